// A bf16 run against PyTorch's own autocast on the same model (autocast_reference.py): the golden
// Qwen2-VL / Qwen2.5-VL cast to bf16 and saved in shards by save_pretrained, loaded here straight
// into bf16 (LoadOptions), the PEFT adapter that get_peft_model made over it (float32 factors,
// random B) loaded on top, one training step in train mode: logits, HF's shifted cross-entropy,
// backward; the model turns CPU autocast on by itself because it stores bf16 weights.
//
// Tolerances. Both sides run the same ATen kernels under the same autocast rules, so what is left
// is the order of a few operations (our vision patch embedding is a matmul where HF runs a conv3d,
// attention masks are built differently) and the bf16 roundings that follow from it. The scale of
// those roundings is measured in the same run: PyTorch's bf16 step against its float32 step. We
// require our bf16 results to be much closer to PyTorch's bf16 than bf16 is to float32 (RMS logits
// error at most 0.25x, loss within 0.25x of that gap plus 1e-4, each LoRA gradient within 0.25x of
// its own bf16-vs-fp32 distance plus 1e-3 of its norm), and to be farther from float32 than float32
// rounding would be, so that a run that silently stayed in float32 fails.
#include <cstdio>

#include <gtest/gtest.h>

#include "models/autocast.h"
#include "models/peft.h"
#include "models/registry.h"
#include "models/safetensors.h"
#include "tests/models/safetensors/reference_python.h"
#include "tests/support/golden_root.h"
#include "tests/support/model_case.h"

namespace tokenfocus::models {
namespace {

using tokenfocus::testing::TempDir;

double rms(const torch::Tensor& t) {
  return t.to(torch::kDouble).pow(2).mean().sqrt().item<double>();
}

std::map<std::string, torch::Tensor> lora_values(Backbone& model) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& item : model.named_parameters())
    if (item.key().find("lora_") != std::string::npos)
      out[item.key()] = item.value().detach().clone();
  return out;
}

// The LoRA factors of `model` replaced by the tensors of adapter folder `dir` (PEFT's names mapped
// by our loader), returned by our parameter names.
std::map<std::string, torch::Tensor> adapter_tensors(Backbone& model, const std::string& dir) {
  load_peft_adapter(dir, model);
  return lora_values(model);
}

class Bf16AutocastTest : public ::testing::TestWithParam<std::string> {};

TEST_P(Bf16AutocastTest, TrainingStepMatchesPyTorchAutocast) {
  const std::string family = GetParam();
  const std::string golden = tokenfocus::testing::golden_root() + "/" + family;
  const std::string case_path = golden + "/case_1x4x4.safetensors";
  TempDir scratch("bf16_" + family);
  const std::string out = scratch.path().string();
  const std::string log = tokenfocus::testing::run_reference_python(
      "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], "
      "run_name='__main__')",
      {std::string(TOKENFOCUS_SOURCE_DIR) + "/tests/models/bf16/autocast_reference.py", golden,
       case_path, out});
  std::printf("%s", log.c_str());

  LoadOptions bf16;
  bf16.dtype = torch::kBFloat16;
  auto model = load_backbone(out + "/model", bf16);
  for (const auto& item : model->named_parameters())
    ASSERT_EQ(item.value().scalar_type(), torch::kBFloat16) << item.key();
  load_peft_adapter(out + "/adapter", *model);
  size_t factors = 0;
  for (const auto& item : model->named_parameters()) {
    const bool lora = item.key().find("lora_") != std::string::npos;
    item.value().set_requires_grad(lora);
    EXPECT_EQ(item.value().scalar_type(), lora ? torch::kFloat : torch::kBFloat16) << item.key();
    factors += lora;
  }
  ASSERT_GT(factors, 0u);

  const auto tensors = load_safetensors(case_path);
  const auto reference = load_safetensors(out + "/reference.safetensors");
  model->train();
  const FullForwardOutputs outputs = model->forward_full(testing::case_inputs(tensors));
  EXPECT_EQ(outputs.logits.scalar_type(), torch::kBFloat16) << "the forward did not autocast";
  const torch::Tensor loss = testing::shifted_cross_entropy(outputs.logits, tensors.at("labels"));
  loss.backward();
  EXPECT_FALSE(AutocastScope::enabled(c10::DeviceType::CPU)) << "autocast leaked out of forward";

  const torch::Tensor logits = outputs.logits.detach().to(torch::kFloat);
  const torch::Tensor hf_bf16 = reference.at("logits_bf16"), hf_fp32 = reference.at("logits_fp32");
  const double ours_vs_hf = rms(logits - hf_bf16), bf16_gap = rms(hf_bf16 - hf_fp32),
               ours_vs_fp32 = rms(logits - hf_fp32);
  std::printf(
      "[bf16] %s logits: RMS |ours - torch bf16| %.4g, torch bf16 vs fp32 %.4g (ratio %.3f), ours "
      "vs "
      "fp32 %.4g; max |ours - torch bf16| %.4g\n",
      family.c_str(), ours_vs_hf, bf16_gap, ours_vs_hf / bf16_gap, ours_vs_fp32,
      (logits - hf_bf16).abs().max().item<double>());
  EXPECT_LE(ours_vs_hf, 0.25 * bf16_gap);
  EXPECT_GE(ours_vs_fp32, 0.5 * bf16_gap) << "our forward stayed at float32 accuracy";

  const double hf_loss = reference.at("loss_bf16").item<double>();
  const double loss_gap = std::abs(hf_loss - reference.at("loss_fp32").item<double>());
  std::printf("[bf16] %s loss: ours %.6f, torch bf16 %.6f, torch fp32 %.6f\n", family.c_str(),
              loss.item<double>(), hf_loss, reference.at("loss_fp32").item<double>());
  EXPECT_LE(std::abs(loss.item<double>() - hf_loss), 0.25 * loss_gap + 1e-4);

  std::map<std::string, torch::Tensor> ours;
  for (const auto& item : model->named_parameters())
    if (item.value().requires_grad()) {
      ASSERT_TRUE(item.value().grad().defined()) << item.key();
      EXPECT_EQ(item.value().grad().scalar_type(), torch::kFloat) << item.key();
      ours[item.key()] = item.value().grad().clone();
    }
  const auto hf_grads = adapter_tensors(*model, out + "/grads");
  const auto hf_grads_fp32 = adapter_tensors(*model, out + "/grads_fp32");
  ASSERT_EQ(hf_grads.size(), ours.size());
  double worst = 0;
  for (const auto& [name, grad] : ours) {
    const torch::Tensor& theirs = hf_grads.at(name);
    const double norm = theirs.norm().item<double>();
    const double error = (grad - theirs).norm().item<double>();
    const double gap = (theirs - hf_grads_fp32.at(name)).norm().item<double>();
    EXPECT_LE(error, 0.25 * gap + 1e-3 * norm) << name << " (norm " << norm << ")";
    worst = std::max(worst, error / std::max(gap, 1e-12));
  }
  std::printf(
      "[bf16] %s: %zu LoRA gradients, worst ||ours - torch bf16|| / ||torch bf16 - fp32|| %.3f\n",
      family.c_str(), ours.size(), worst);
}

INSTANTIATE_TEST_SUITE_P(Qwen, Bf16AutocastTest, ::testing::Values("qwen2_vl", "qwen2_5_vl"));

}  // namespace
}  // namespace tokenfocus::models
