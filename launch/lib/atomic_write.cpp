#include "launch/lib/atomic_write.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"

namespace tokenfocus::launch {

void write_file_atomically(const std::string& path, const std::string& contents, bool executable) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  const std::string temporary = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << contents;
    if (!out.flush()) throw_user_error("{}: cannot write (disk full or no permission?)", temporary);
  }
  if (executable)
    fs::permissions(temporary,
                    fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                    fs::perm_options::add);
  std::error_code ec;
  fs::rename(temporary, target, ec);
  if (ec) throw_user_error("{}: cannot rename {} into place: {}", path, temporary, ec.message());
}

}  // namespace tokenfocus::launch
