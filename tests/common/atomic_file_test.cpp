// write_via_temporary / write_file_atomically: the target appears only complete, a failed write
// leaves the previous version and no temporary file behind.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/atomic_file.h"
#include "common/error.h"

namespace tokenfocus {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / ("tokenfocus-atomic-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

size_t files_in(const fs::path& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir)) ++n;
  return n;
}

TEST(AtomicFile, WritesAndCreatesParentFolders) {
  const fs::path dir = fresh_dir("write");
  const std::string path = (dir / "a" / "b" / "out.txt").string();
  write_file_atomically(path, "first\n");
  EXPECT_EQ(read_all(path), "first\n");
  write_file_atomically(path, "second\n", /*executable=*/true);
  EXPECT_EQ(read_all(path), "second\n");
  EXPECT_NE(fs::status(path).permissions() & fs::perms::owner_exec, fs::perms::none);
  EXPECT_EQ(files_in(dir / "a" / "b"), 1u);  // no temporary left
  fs::remove_all(dir);
}

TEST(AtomicFile, AFailingWriterKeepsThePreviousVersionAndRemovesItsTemporary) {
  const fs::path dir = fresh_dir("fail");
  const std::string path = (dir / "store.h5").string();
  write_file_atomically(path, "complete old version");
  std::string seen_temporary;
  EXPECT_THROW(write_via_temporary(path,
                                   [&](const std::string& temporary) {
                                     seen_temporary = temporary;
                                     std::ofstream(temporary) << "half of the new";
                                     throw std::runtime_error("disk full");
                                   }),
               std::runtime_error);
  EXPECT_EQ(read_all(path), "complete old version");
  EXPECT_NE(seen_temporary, path);
  EXPECT_EQ(fs::path(seen_temporary).parent_path(), dir);  // same folder: rename is atomic
  EXPECT_FALSE(fs::exists(seen_temporary));
  EXPECT_EQ(files_in(dir), 1u);
  fs::remove_all(dir);
}

TEST(AtomicFile, ARenameThatFailsNamesBothPathsAndCleansUp) {
  const fs::path dir = fresh_dir("rename");
  const fs::path target = dir / "occupied";
  fs::create_directories(target / "inside");  // a non-empty folder cannot be replaced by a file
  try {
    write_file_atomically(target.string(), "x");
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(target.string()), std::string::npos) << e.what();
  }
  EXPECT_EQ(files_in(dir), 1u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tokenfocus
