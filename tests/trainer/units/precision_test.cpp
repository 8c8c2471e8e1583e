// optim.precision: bf16 is refused on CPU with a message naming the key; the autocast scope turns
// CUDA autocast to bfloat16 on and restores the previous state (thread-local flags, which a CPU
// build can observe without a GPU).
#include <gtest/gtest.h>

#include "common/config/resolve.h"
#include "common/config/run_config.h"
#include "common/error.h"
#include "trainer/precision.h"

using namespace tokenfocus;
using namespace tokenfocus::trainer;

namespace {

TEST(Precision, Bf16OnCpuIsAConfigErrorNamingTheKey) {
  EXPECT_NO_THROW(check_precision("fp32", "cpu"));
  try {
    check_precision("bf16", "cpu");
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("optim.precision: bf16 autocast needs CUDA"),
              std::string::npos)
        << e.what();
  }
}

TEST(Precision, ConfigKeyIsValidated) {
  const auto ok = config::resolve_text<config::RunConfig>("optim: {precision: bf16}\n");
  EXPECT_EQ(ok.config.optim.precision, "bf16");
  EXPECT_EQ(config::resolve_text<config::RunConfig>("").config.optim.precision, "fp32");
  try {
    config::resolve_text<config::RunConfig>("optim: {precision: fp16}\n", {}, "run.yaml");
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("optim.precision"), std::string::npos) << e.what();
  }
}

TEST(Precision, AutocastScopeSetsAndRestoresCudaAutocast) {
  const bool before = AutocastScope::cuda_autocast_enabled();
  const std::string dtype_before = AutocastScope::cuda_autocast_dtype();
  EXPECT_FALSE(before);
  {
    const AutocastScope off(false);
    EXPECT_FALSE(AutocastScope::cuda_autocast_enabled());
  }
  {
    const AutocastScope on(true);
    EXPECT_TRUE(AutocastScope::cuda_autocast_enabled());
    EXPECT_EQ(AutocastScope::cuda_autocast_dtype(), "BFloat16");
    {
      const AutocastScope nested(true);
      EXPECT_TRUE(AutocastScope::cuda_autocast_enabled());
    }
    EXPECT_TRUE(AutocastScope::cuda_autocast_enabled());
  }
  EXPECT_EQ(AutocastScope::cuda_autocast_enabled(), before);
  EXPECT_EQ(AutocastScope::cuda_autocast_dtype(), dtype_before);
  // CPU tensors are untouched by CUDA autocast: a CPU matmul inside the scope stays float32.
  const AutocastScope on(true);
  EXPECT_EQ(torch::mm(torch::ones({2, 2}), torch::ones({2, 2})).scalar_type(), torch::kFloat);
}

}  // namespace
