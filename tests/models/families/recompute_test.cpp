// Gradient checkpointing recomputes each block in backward; with LoRA dropout (0.05, the NTIRE
// recipe's) the recompute must draw the masks forward drew, or backward differentiates another
// network. On the golden model of every family: LoRA on the attention projections with dropout,
// the same seed, gradients with checkpointing equal those without to 1e-6 of each one's largest
// entry (the kernels and their order are the same; what is left is float rounding), and a
// different seed gives different gradients (the dropout is live, so the check can fail). The same
// holds for a bf16 run (frozen weights in bf16, float32 LoRA, CPU autocast): the recompute in
// backward re-enters the autocast that forward ran under.
#include <gtest/gtest.h>

#include <map>

#include "golden_family.h"

#include "data/collate.h"
#include "models/batch_tensors.h"
#include "models/peft.h"

namespace tokenfocus::models {
namespace {

// Two samples with an image and three questions each, packed as training runs them.
data::Batch recompute_batch(const Family& family) {
  std::mt19937 rng(21);
  std::uniform_int_distribution<int64_t> word(100, 480);
  std::vector<data::PreparedSample> samples;
  for (int s = 0; s < 2; ++s) {
    data::PreparedSample sample;
    auto [image, block] = family.image(2, 4, rng);
    sample.image = std::move(image);
    std::vector<int64_t> head{word(rng), word(rng)};
    head.insert(head.end(), block.begin(), block.end());
    for (int q = 0; q < 3; ++q) {
      data::PreparedSample::Question question;
      question.ids = head;
      for (int i = 0; i < 4 + q; ++i) question.ids.push_back(word(rng));
      question.query_position = static_cast<int64_t>(question.ids.size()) - 1;
      sample.questions.push_back(std::move(question));
    }
    samples.push_back(std::move(sample));
  }
  return data::collate_samples(std::move(samples), family.pad_id, {});
}

std::map<std::string, torch::Tensor> lora_gradients(const Family& family, bool checkpointing,
                                                    uint64_t seed,
                                                    torch::ScalarType dtype = torch::kFloat) {
  auto model = family.load(dtype);
  for (auto& parameter : model->parameters()) parameter.set_requires_grad(false);
  config::LoraConfig lora;
  lora.rank = 4;
  lora.dropout = 0.05;
  lora.target_modules = family.name == "internvl2_5_internlm2"
                            ? std::vector<std::string>{"wqkv", "wo", "qkv"}
                            : std::vector<std::string>{"q_proj", "v_proj", "qkv", "attn.proj"};
  torch::manual_seed(3);
  apply_lora(*model, lora);
  {
    // PEFT starts B at zero; move it so that A and the dropout's mask matter.
    torch::NoGradGuard no_grad;
    for (auto& item : model->named_parameters())
      if (item.key().find("lora_B") != std::string::npos) item.value().normal_(0.0, 0.1);
  }
  model->train();
  model->set_gradient_checkpointing(checkpointing);
  const data::Batch batch = recompute_batch(family);
  torch::manual_seed(seed);
  const torch::Tensor hidden = hidden_at_batch(*model, batch, 0);
  torch::log_softmax(model->focus_logits(hidden), -1).select(1, 7).mean().neg().backward();
  std::map<std::string, torch::Tensor> grads;
  for (const auto& item : model->named_parameters())
    if (item.value().grad().defined()) grads[item.key()] = item.value().grad().clone();
  return grads;
}

double worst_relative(const std::map<std::string, torch::Tensor>& a,
                      const std::map<std::string, torch::Tensor>& b) {
  double worst = 0;
  for (const auto& [name, grad] : a) {
    const double scale = std::max(grad.abs().max().item<double>(), 1e-12);
    worst = std::max(worst, (grad - b.at(name)).abs().max().item<double>() / scale);
  }
  return worst;
}

class RecomputeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(RecomputeTest, LoraDropoutGradientsEqualWithAndWithoutCheckpointing) {
  const Family family = family_named(GetParam());
  const auto plain = lora_gradients(family, false, 11);
  const auto checkpointed = lora_gradients(family, true, 11);
  ASSERT_FALSE(plain.empty());
  ASSERT_EQ(plain.size(), checkpointed.size());
  const double error = worst_relative(plain, checkpointed);
  EXPECT_LE(error, 1e-6);
  const double other_seed = worst_relative(plain, lora_gradients(family, false, 12));
  EXPECT_GT(other_seed, 1e-3) << "the dropout draws nothing: this test could not fail";
  std::cout << GetParam() << ": " << plain.size() << " LoRA gradients, checkpointed within "
            << error << " (another seed: " << other_seed << ")\n";
}

TEST_P(RecomputeTest, Bf16AutocastGradientsEqualWithAndWithoutCheckpointing) {
  const Family family = family_named(GetParam());
  const auto plain = lora_gradients(family, false, 11, torch::kBFloat16);
  const auto checkpointed = lora_gradients(family, true, 11, torch::kBFloat16);
  ASSERT_FALSE(plain.empty());
  for (const auto& [name, grad] : plain) ASSERT_EQ(grad.scalar_type(), torch::kFloat) << name;
  const double error = worst_relative(plain, checkpointed);
  EXPECT_LE(error, 1e-6);
  // bf16 really ran: the gradients differ from the float32 run's by bf16 rounding, not float32's.
  const double from_fp32 = worst_relative(lora_gradients(family, false, 11), plain);
  EXPECT_GT(from_fp32, 1e-4) << "the bf16 run computed in float32";
  std::cout << GetParam() << " bf16: checkpointed within " << error << " (vs the fp32 run "
            << from_fp32 << ")\n";
}

INSTANTIATE_TEST_SUITE_P(Families, RecomputeTest, ::testing::ValuesIn(golden_families()));

}  // namespace
}  // namespace tokenfocus::models
