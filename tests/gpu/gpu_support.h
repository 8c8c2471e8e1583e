// Shared by the `gpu`-labelled suites (scripts/gpu-check.sh runs them on a GPU machine; `make test`
// leaves them out): the CUDA requirement, scratch folders and shell quoting for the programs the
// tests start.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

#include <gtest/gtest.h>
#include <torch/torch.h>

// Fails the test (never skips it): a gpu test that cannot see a GPU has not shown anything.
#define TOKENFOCUS_REQUIRE_CUDA()                                                              \
  ASSERT_TRUE(torch::cuda::is_available())                                                     \
      << "this gpu-labelled test needs a CUDA device, and this process sees none "             \
         "(torch::cuda::is_available() is false: no GPU, no driver, or a CPU-only libtorch); " \
         "run it on a GPU machine (scripts/gpu-check.sh)"

namespace tokenfocus::gpu_testing {

// A fresh folder under $TMPDIR (or /tmp), removed with everything in it when this goes out of
// scope.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name) {
    std::string pattern = (std::filesystem::temp_directory_path() / (name + ".XXXXXX")).string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed for " + pattern);
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// `text` as one word for /bin/sh (std::system).
inline std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

}  // namespace tokenfocus::gpu_testing
