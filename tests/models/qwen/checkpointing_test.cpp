// Gradient checkpointing recomputes each decoder and vision block in backward; the gradients must
// be those of the plain run (same kernels, same order: equal to float rounding, checked at 1e-6
// relative), including when the blocks' input needs no gradient (frozen embedding + LoRA).
#include <gtest/gtest.h>

#include "golden_cases.h"
#include "models/qwen2_vl_model.h"
#include "models/registry.h"

namespace tokenfocus::models::testing {
namespace {

torch::Tensor focus_loss(Backbone& backbone, const ModelInputs& inputs) {
  const int64_t last = inputs.input_ids.size(1) - 1;
  std::vector<int64_t> flat;
  for (int64_t b = 0; b < inputs.input_ids.size(0); ++b) {
    flat.push_back(b);
    flat.push_back(last);
  }
  const torch::Tensor positions = torch::tensor(flat, torch::kLong).view({-1, 2});
  const torch::Tensor logits = backbone.focus_logits(backbone.hidden_at(inputs, positions));
  return torch::log_softmax(logits, -1).select(1, 7).mean().neg();
}

std::map<std::string, torch::Tensor> gradients(Backbone& backbone) {
  std::map<std::string, torch::Tensor> grads;
  for (const auto& item : backbone.named_parameters()) {
    const std::string& name = item.key();
    const torch::Tensor& parameter = item.value();
    if (parameter.grad().defined()) grads[name] = parameter.grad().clone();
  }
  return grads;
}

void expect_same_gradients(const std::map<std::string, torch::Tensor>& plain,
                           const std::map<std::string, torch::Tensor>& checkpointed) {
  ASSERT_EQ(plain.size(), checkpointed.size());
  ASSERT_FALSE(plain.empty());
  for (const auto& [name, grad] : plain) {
    ASSERT_TRUE(checkpointed.count(name)) << name;
    const double scale = std::max(grad.abs().max().item<double>(), 1e-12);
    EXPECT_LE(max_abs_diff(grad, checkpointed.at(name)) / scale, 1e-6) << name;
  }
}

class CheckpointingTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CheckpointingTest, GradientsEqualThePlainRun) {
  const std::string family = GetParam();
  const ModelInputs inputs =
      case_inputs(read_case(family_dir(family) + "/case_batch2_leftpad.safetensors"));
  std::map<std::string, torch::Tensor> runs[2];
  double losses[2];
  for (int checkpointing = 0; checkpointing < 2; ++checkpointing) {
    auto backbone = load_backbone(family_dir(family));
    backbone->train();
    backbone->set_gradient_checkpointing(checkpointing == 1);
    const torch::Tensor loss = focus_loss(*backbone, inputs);
    loss.backward();
    losses[checkpointing] = loss.item<double>();
    runs[checkpointing] = gradients(*backbone);
  }
  EXPECT_DOUBLE_EQ(losses[0], losses[1]);
  expect_same_gradients(runs[0], runs[1]);
}

TEST_P(CheckpointingTest, LoraGradientsFlowThroughFrozenInputs) {
  const std::string family = GetParam();
  const ModelInputs inputs = case_inputs(read_case(family_dir(family) + "/case_1x4x4.safetensors"));
  std::map<std::string, torch::Tensor> runs[2];
  for (int checkpointing = 0; checkpointing < 2; ++checkpointing) {
    auto backbone = std::dynamic_pointer_cast<QwenVLBackbone>(load_backbone(family_dir(family)));
    for (auto& parameter : backbone->parameters()) parameter.set_requires_grad(false);
    torch::manual_seed(3);
    for (size_t i = 0; i < backbone->model->layers->size(); ++i) {
      auto layer = backbone->model->layers->ptr<Qwen2DecoderLayerImpl>(i);
      layer->self_attn->q_proj->add_lora({4, 8.0, 0.0});
      layer->self_attn->v_proj->add_lora({4, 8.0, 0.0});
      // PEFT starts B at zero; move it so that A gets a gradient too.
      torch::NoGradGuard no_grad;
      layer->self_attn->q_proj->lora_b().normal_(0.0, 0.1);
      layer->self_attn->v_proj->lora_b().normal_(0.0, 0.1);
    }
    backbone->train();
    backbone->set_gradient_checkpointing(checkpointing == 1);
    focus_loss(*backbone, inputs).backward();
    runs[checkpointing] = gradients(*backbone);
    EXPECT_EQ(runs[checkpointing].size(), backbone->model->layers->size() * 4)
        << "every LoRA factor has a gradient";
  }
  expect_same_gradients(runs[0], runs[1]);
}

INSTANTIATE_TEST_SUITE_P(Golden, CheckpointingTest, ::testing::ValuesIn(qwen_families()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tokenfocus::models::testing
