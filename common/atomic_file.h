// Writes a whole file under a temporary name in the same folder, then renames it into place, so a
// crash never leaves a half-written output where a finished one is expected, and a failed write
// never destroys the previous version. Every writer of the project's outputs goes through here.
#pragma once

#include <functional>
#include <string>

namespace tokenfocus {

// `write(temporary)` writes the whole file at `temporary` (a name beside `path`, unique to this
// process) by whatever means it needs (a stream, a C library's own file handle, HDF5); then it is
// renamed to `path`. If `write` throws, or the rename fails, the temporary file is removed and
// `path` is left as it was. Creates `path`'s parent folders.
void write_via_temporary(const std::string& path,
                         const std::function<void(const std::string& temporary)>& write);

// The same for a string. `executable`: also set the execute bits (generated scripts).
void write_file_atomically(const std::string& path, const std::string& contents,
                           bool executable = false);

}  // namespace tokenfocus
