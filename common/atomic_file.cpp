#include "common/atomic_file.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"

namespace tokenfocus {

void write_file_atomically(const std::string& path, const std::string& contents, bool executable) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) throw_user_error("cannot write {}", temporary);
    out << contents;
    out.flush();
    if (!out) throw_user_error("failed while writing {}", temporary);
  }
  if (executable)
    fs::permissions(temporary,
                    fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                    fs::perm_options::add);
  std::error_code error;
  fs::rename(temporary, target, error);
  if (error) {
    fs::remove(temporary);
    throw_user_error("cannot move {} to {}: {}", temporary, path, error.message());
  }
}

}  // namespace tokenfocus
