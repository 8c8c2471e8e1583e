#include "common/atomic_file.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"

namespace tokenfocus {

namespace fs = std::filesystem;

void write_via_temporary(const std::string& path,
                         const std::function<void(const std::string& temporary)>& write) {
  const fs::path target(path);
  std::error_code error;
  if (target.has_parent_path()) {
    fs::create_directories(target.parent_path(), error);
    if (error)
      throw_user_error("{}: cannot create the folder {}: {}", path, target.parent_path().string(),
                       error.message());
  }
  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  try {
    write(temporary);
  } catch (...) {
    fs::remove(temporary, error);
    throw;
  }
  fs::rename(temporary, target, error);
  if (error) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw_user_error("cannot move {} to {}: {}", temporary, path, error.message());
  }
}

void write_file_atomically(const std::string& path, const std::string& contents, bool executable) {
  write_via_temporary(path, [&](const std::string& temporary) {
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
  });
}

}  // namespace tokenfocus
