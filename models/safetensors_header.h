// The torch-free core of the safetensors format: parsing and validating the header of a file held
// in memory, and writing a header for a list of tensors. Kept apart from models/safetensors.h so
// the fuzz target (tests/fuzz/) builds in seconds without libtorch.
//
// File layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON
//   {"<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"<key>": "<string value>"}}
// then the data buffer; offsets are relative to the buffer, which the tensors must cover
// contiguously (no holes, no overlaps), as the format's specification requires.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tokenfocus::models {

// Every dtype of the safetensors specification (not all of them exist in libtorch 1.13).
enum class SafetensorsDtype {
  kBool,
  kU8,
  kI8,
  kI16,
  kU16,
  kF16,
  kBF16,
  kI32,
  kU32,
  kF32,
  kF64,
  kI64,
  kU64,
  kF8E4M3,
  kF8E5M2
};

// "F32" -> kF32; returns false for a name outside the specification.
bool parse_safetensors_dtype(const std::string& name, SafetensorsDtype& dtype);
const char* safetensors_dtype_name(SafetensorsDtype dtype);
std::size_t safetensors_dtype_size(SafetensorsDtype dtype);

struct SafetensorsEntry {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data buffer, end exclusive
  uint64_t end = 0;
};

struct SafetensorsHeader {
  uint64_t data_start = 0;                // file offset of the data buffer (8 + N)
  uint64_t data_size = 0;                 // bytes in the data buffer
  std::vector<SafetensorsEntry> entries;  // sorted by name
  std::map<std::string, std::string> metadata;
};

// Headers above this size are refused as absurd (the Rust reference implementation uses 100 MB
// too).
constexpr uint64_t kMaxSafetensorsHeaderBytes = 100ull * 1024 * 1024;

// Parses and validates the whole file image [bytes, bytes + size). Throws UserError naming
// `source_name` (and the tensor, where one is at fault) for anything malformed.
SafetensorsHeader parse_safetensors_header(const uint8_t* bytes, std::size_t size,
                                           const std::string& source_name);

// A tensor to write: the writer lays the tensors out contiguously in name order.
struct SafetensorsWriteEntry {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;  // nbytes bytes, little-endian
  uint64_t nbytes = 0;
};

// Writes a complete file to `path` through a temporary name and a rename (a crash never leaves a
// half-written file under the final name). Keys sorted, header padded with spaces to 8 bytes.
void write_safetensors_file(const std::string& path, std::vector<SafetensorsWriteEntry> entries,
                            const std::map<std::string, std::string>& metadata);

}  // namespace tokenfocus::models
