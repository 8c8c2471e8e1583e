// Linked into every GoogleTest executable that uses libtorch (cmake/TokenfocusHelpers.cmake):
// seeds torch's global generator before each test. Debian's libtorch 1.13 seeded it randomly at
// start-up, so a test that draws weights or inputs without a seed of its own saw different numbers
// in every process, and a tolerance check could pass in one run and fail in the next (a LoRA merge
// check did). Each test now starts from the same generator state whatever runs before it.
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace {

class SeedTorchBeforeEachTest : public ::testing::EmptyTestEventListener {
  void OnTestStart(const ::testing::TestInfo&) override { torch::manual_seed(0); }
};

const bool kRegistered = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new SeedTorchBeforeEachTest);
  return true;
}();

}  // namespace
