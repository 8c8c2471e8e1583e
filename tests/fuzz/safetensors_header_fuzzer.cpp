// libFuzzer target: any byte string fed to the safetensors header parser must either parse or be
// refused with a UserError; a crash, a sanitizer report or any other exception is a finding.
#include <cstddef>
#include <cstdint>

#include "common/error.h"
#include "models/safetensors_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto header = tokenfocus::models::parse_safetensors_header(data, size, "fuzz-input");
    // A header that parsed promises every tensor lies inside the input: touch each byte of it.
    volatile uint8_t sink = 0;
    for (const auto& entry : header.entries)
      for (uint64_t i = entry.begin; i < entry.end; ++i) sink ^= data[header.data_start + i];
    (void)sink;
  } catch (const tokenfocus::UserError&) {
  }
  return 0;
}
