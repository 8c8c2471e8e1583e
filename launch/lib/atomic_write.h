// Writes a whole file under a temporary name, then renames it: readers never see half a file and a
// failed write never destroys the previous version.
#pragma once

#include <string>

namespace tokenfocus::launch {

void write_file_atomically(const std::string& path, const std::string& contents,
                           bool executable = false);

}  // namespace tokenfocus::launch
