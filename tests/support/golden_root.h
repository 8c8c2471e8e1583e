// Where the golden reference folders are: $TOKENFOCUS_GOLDEN_DIR, else ../shared/golden next to
// the source root. Every parity suite reads its cases from there, so cases made elsewhere can be
// run through it unchanged.
#pragma once

#include <cstdlib>
#include <string>

namespace tokenfocus::testing {

inline std::string golden_root() {
  const char* overridden = std::getenv("TOKENFOCUS_GOLDEN_DIR");
  if (overridden && *overridden) return overridden;
  return std::string(TOKENFOCUS_SOURCE_DIR) + "/../shared/golden";
}

}  // namespace tokenfocus::testing
