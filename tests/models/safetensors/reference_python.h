// Runs a script under the reference Python (.venv's, with torch, numpy, safetensors) and
// returns its stdout, so tests compare our files with what an independent implementation reads.
#pragma once

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

namespace tokenfocus::testing {

inline std::string run_reference_python(const std::string& script,
                                        const std::vector<std::string>& args = {}) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("tokenfocus_ref_" + std::to_string(::getpid()) + ".py");
  std::ofstream(path) << script;
  std::string command = std::string(TOKENFOCUS_REFERENCE_PYTHON) + " " + path.string();
  for (const auto& arg : args) command += " '" + arg + "'";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot start " + command);
  std::string output;
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  std::filesystem::remove(path);
  if (status != 0)
    throw std::runtime_error("reference python failed (" + command + "):\n" + output);
  return output;
}

// A fresh empty directory under the system temp folder, removed by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    path_ = std::filesystem::temp_directory_path() /
            ("tokenfocus_" + tag + "_" + std::to_string(::getpid()) + "_" +
             std::to_string(counter()++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  static int& counter() {
    static int value = 0;
    return value;
  }
  std::filesystem::path path_;
};

}  // namespace tokenfocus::testing
