// optim.precision: the load dtype and weight storage it asks for (bf16: frozen weights bf16,
// trainable ones float32), and the autocast scope on the CPU and CUDA (thread-local flags, which a
// CPU build can observe without a GPU): set, nested, restored, and a CPU matmul really in bf16.
#include <gtest/gtest.h>

#include "common/config/resolve.h"
#include "common/config/run_config.h"
#include "common/error.h"
#include "models/autocast.h"
#include "trainer/precision.h"

using namespace tokenfocus;
using namespace tokenfocus::trainer;
using models::AutocastScope;

namespace {

TEST(Precision, LoadDtypeIsBf16OnlyWhereNothingLoadedTrains) {
  EXPECT_EQ(load_dtype_for("fp32", "lora"), torch::kFloat);
  EXPECT_EQ(load_dtype_for("bf16", "lora"), torch::kBFloat16);
  EXPECT_EQ(load_dtype_for("bf16", "full"), torch::kFloat);
  EXPECT_EQ(load_dtype_for("bf16", "head"), torch::kFloat);
  try {
    load_dtype_for("fp16", "lora");
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("optim.precision: 'fp16'"), std::string::npos) << e.what();
  }
}

TEST(Precision, Bf16StoresFrozenWeightsInBf16AndTrainableInFloat32) {
  torch::nn::Sequential model(torch::nn::Linear(4, 3), torch::nn::Linear(3, 2));
  auto parameters = model->named_parameters();
  parameters["0.weight"].set_requires_grad(false);
  parameters["0.bias"].set_requires_grad(false);
  const torch::Tensor frozen_before = parameters["0.weight"].detach().clone();
  const torch::Tensor trained_before = parameters["1.weight"].detach().clone();

  EXPECT_EQ(store_weights_for("fp32", *model), 0);
  EXPECT_EQ(parameters["0.weight"].scalar_type(), torch::kFloat);

  EXPECT_EQ(store_weights_for("bf16", *model), 2);
  parameters = model->named_parameters();
  EXPECT_EQ(parameters["0.weight"].scalar_type(), torch::kBFloat16);
  EXPECT_EQ(parameters["0.bias"].scalar_type(), torch::kBFloat16);
  EXPECT_EQ(parameters["1.weight"].scalar_type(), torch::kFloat);
  EXPECT_TRUE(parameters["1.weight"].requires_grad());
  EXPECT_FALSE(parameters["0.weight"].requires_grad());
  // Rounded once to bf16; the trainable weight keeps every bit.
  EXPECT_TRUE(torch::equal(parameters["0.weight"], frozen_before.to(torch::kBFloat16)));
  EXPECT_TRUE(torch::equal(parameters["1.weight"], trained_before));
  // A trainable weight stored in bf16 (a bf16 checkpoint loaded for full fine-tuning) becomes a
  // float32 master weight.
  parameters["1.weight"].set_data(parameters["1.weight"].to(torch::kBFloat16));
  EXPECT_EQ(store_weights_for("bf16", *model), 1);
  EXPECT_EQ(model->named_parameters()["1.weight"].scalar_type(), torch::kFloat);
  EXPECT_TRUE(models::stores_bf16(*model));
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

TEST(Precision, AutocastScopeSetsNestsAndRestoresPerDevice) {
  for (const c10::DeviceType device : {c10::DeviceType::CPU, c10::DeviceType::CUDA}) {
    SCOPED_TRACE(c10::DeviceTypeName(device));
    const std::string dtype_before = AutocastScope::dtype_name(device);
    EXPECT_FALSE(AutocastScope::enabled(device));
    {
      const AutocastScope off(device, false);
      EXPECT_FALSE(AutocastScope::enabled(device));
    }
    {
      const AutocastScope on(device, true);
      EXPECT_TRUE(AutocastScope::enabled(device));
      EXPECT_EQ(AutocastScope::dtype_name(device), "BFloat16");
      {
        const AutocastScope nested(device, true);
        EXPECT_TRUE(AutocastScope::enabled(device));
      }
      EXPECT_TRUE(AutocastScope::enabled(device));
    }
    EXPECT_FALSE(AutocastScope::enabled(device));
    EXPECT_EQ(AutocastScope::dtype_name(device), dtype_before);
  }
}

TEST(Precision, CpuAutocastRunsMatmulsInBf16AndLeavesCudaAlone) {
  const torch::Tensor a = torch::rand({8, 8}), b = torch::rand({8, 8});
  {
    const AutocastScope cuda(c10::DeviceType::CUDA, true);
    EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kFloat);
  }
  const AutocastScope cpu(c10::DeviceType::CPU, true);
  const torch::Tensor product = torch::mm(a, b);
  EXPECT_EQ(product.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(product, torch::mm(a.to(torch::kBFloat16), b.to(torch::kBFloat16))));
}

TEST(Precision, StorageAutocastFollowsTheWeights) {
  torch::nn::Linear layer(4, 2);
  {
    const models::StorageAutocast autocast(*layer);
    EXPECT_FALSE(AutocastScope::enabled(c10::DeviceType::CPU));
  }
  layer->to(torch::kBFloat16);
  const models::StorageAutocast autocast(*layer);
  EXPECT_TRUE(AutocastScope::enabled(c10::DeviceType::CPU));
  EXPECT_EQ(layer->forward(torch::rand({3, 4})).scalar_type(), torch::kBFloat16);
}

}  // namespace
