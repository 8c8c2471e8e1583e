// Writes a whole file under a temporary name in the same folder, then renames it into place, so a
// crash never leaves a half-written output where a finished one is expected, and a failed write
// never destroys the previous version.
#pragma once

#include <string>

namespace tokenfocus {

// `executable`: also set the execute bits (generated scripts).
void write_file_atomically(const std::string& path, const std::string& contents,
                           bool executable = false);

}  // namespace tokenfocus
