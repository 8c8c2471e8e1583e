// Writes a whole file under a temporary name in the same folder, then renames it into place, so a
// crash never leaves a half-written output where a finished one is expected.
#pragma once

#include <string>

namespace tokenfocus::ensemble {

void write_file_atomically(const std::string& path, const std::string& contents);

}  // namespace tokenfocus::ensemble
