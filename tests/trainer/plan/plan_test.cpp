// The memory plan's parameter tables against the models our code builds: for each tiny config,
// every parameter name and shape of the built model (and of LoRA applied by models/peft), which of
// them freeze_vision freezes, and the plan's float32 bytes against the model's own bytes. The 7-8 B
// tables against the published parameter counts; byte-size parsing.
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/config/run_config.h"
#include "common/error.h"
#include "models/internvl_model.h"
#include "models/parameter_count.h"
#include "models/peft.h"
#include "models/registry.h"
#include "trainer/memory_plan.h"

using namespace tokenfocus;

namespace {

struct Case {
  std::string config;
  std::vector<std::string> lora_targets;
};

std::shared_ptr<models::Backbone> build(const std::string& config_path) {
  if (models::is_internvl_config(config_path))
    return std::make_shared<models::InternVLBackbone>(models::read_internvl_config(config_path));
  return models::build_backbone(models::read_hf_config(config_path));
}

std::map<std::string, std::vector<int64_t>> shape_map(
    const std::vector<models::ParameterShape>& p) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& s : p) out[s.name] = s.shape;
  return out;
}

std::map<std::string, std::vector<int64_t>> model_map(torch::nn::Module& m) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& item : m.named_parameters()) out[item.key()] = item.value().sizes().vec();
  return out;
}

class PlanShapes : public ::testing::TestWithParam<Case> {};

TEST_P(PlanShapes, NamesAndShapesAreWhatTheModelRegisters) {
  const Case c = GetParam();
  auto model = build(c.config);
  const models::ArchitectureShapes shapes = models::read_architecture_shapes(c.config);
  EXPECT_EQ(shape_map(shapes.parameters), model_map(*model));
  EXPECT_EQ(shape_map(shapes.parameters).size(), shapes.parameters.size()) << "duplicate names";

  // freeze_vision freezes exactly the parameters the table marks as the vision tower.
  for (auto& p : model->parameters()) p.set_requires_grad(true);
  model->freeze_vision(true);
  std::map<std::string, bool> tower;
  for (const auto& p : shapes.parameters) tower[p.name] = p.vision_tower;
  for (const auto& item : model->named_parameters())
    EXPECT_EQ(tower.at(item.key()), !item.value().requires_grad()) << item.key();

  // LoRA: the factors apply_lora adds, by name and shape, and the plan's float32 bytes equal the
  // bytes the adapted model holds.
  config::LoraConfig lora;
  lora.rank = 3;
  lora.target_modules = c.lora_targets;
  const auto before = model_map(*model);
  models::apply_lora(*model, lora);
  std::map<std::string, std::vector<int64_t>> added;
  for (const auto& [name, shape] : model_map(*model))
    if (!before.count(name)) added[name] = shape;
  const auto planned = models::lora_shapes(shapes, lora);
  EXPECT_EQ(shape_map(planned), added);
  ASSERT_FALSE(added.empty());

  config::RunConfig run;
  config::BackboneConfig b;
  b.name = "tiny";
  b.finetune = "lora";
  b.lora = lora;
  b.freeze_vision = true;
  const trainer::BackbonePlan plan = trainer::plan_backbone(run, b, shapes, c.config, 0, {});
  int64_t bytes = 0, trainable = 0;
  // Trainability as train sets it: LoRA factors only, then the vision tower frozen.
  for (const auto& item : model->named_parameters())
    item.value().set_requires_grad(item.key().find("lora_") != std::string::npos);
  model->freeze_vision(true);
  for (const auto& item : model->named_parameters()) {
    EXPECT_EQ(item.value().scalar_type(), torch::kFloat) << item.key();
    bytes += item.value().numel() * item.value().element_size();
    if (item.value().requires_grad()) trainable += item.value().numel();
  }
  EXPECT_EQ(plan.weights_bf16, 0);
  EXPECT_EQ(plan.weights_fp32 + plan.lora_weights, bytes);
  EXPECT_EQ(plan.counts.lora_trainable, trainable);
  EXPECT_EQ(plan.gradients, trainable * 4);
  EXPECT_EQ(plan.optimizer, trainable * 8);
}

INSTANTIATE_TEST_SUITE_P(
    TinyConfigs, PlanShapes,
    ::testing::Values(
        Case{"configs/models/tiny-qwen2-vl.json",
             {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}},
        // gate/up/down also name the Qwen2.5-VL tower's MLP: PEFT's suffix match adapts them too.
        Case{"configs/models/tiny-qwen2.5-vl.json",
             {"q_proj", "v_proj", "gate_proj", "up_proj", "down_proj", "qkv"}},
        Case{"configs/models/tiny-internvl2.5.json", {"q_proj", "k_proj", "fc1", "mlp1.1"}}));

// The InternVL branches the tiny config does not take: an InternLM2 LLM with biases (wqkv, wo,
// w1-w3) and an RMSNorm InternViT with q/k normalisation and no qkv bias, as InternViT-6B.
TEST(PlanShapesInternLM2, NamesAndShapesAreWhatTheModelRegisters) {
  models::InternVLConfig c = models::read_internvl_config("configs/models/tiny-internvl2.5.json");
  c.llm_type = "internlm2";
  c.llm_bias = true;
  c.vision.norm_type = "rms_norm";
  c.vision.qk_normalization = true;
  c.vision.qkv_bias = false;
  models::InternVLBackbone model(c);
  const models::ArchitectureShapes shapes = models::architecture_shapes(c);
  EXPECT_EQ(shape_map(shapes.parameters), model_map(model));
  config::LoraConfig lora;
  lora.rank = 2;
  lora.target_modules = {"wqkv", "wo", "w1", "w2", "w3"};
  const auto before = model_map(model);
  models::apply_lora(model, lora);
  std::map<std::string, std::vector<int64_t>> added;
  for (const auto& [name, shape] : model_map(model))
    if (!before.count(name)) added[name] = shape;
  EXPECT_EQ(shape_map(models::lora_shapes(shapes, lora)), added);
  EXPECT_EQ(added.size(), 2u * 5u * static_cast<size_t>(c.llm.num_hidden_layers));
}

// The shipped 7-8 B configs against the parameter counts their model cards publish (8.29 B,
// 8.29 B, 8.08 B): the tables above are exact for the tiny models, so these check the config files.
TEST(PlanPublishedModels, ParameterCountsMatchTheModelCards) {
  const std::vector<std::pair<std::string, double>> published = {
      {"configs/models/qwen2-vl-7b.json", 8.29e9},
      {"configs/models/qwen2.5-vl-7b.json", 8.29e9},
      {"configs/models/internvl2.5-8b.json", 8.08e9}};
  for (const auto& [path, count] : published) {
    const auto shapes = models::read_architecture_shapes(path);
    int64_t total = 0;
    for (const auto& p : shapes.parameters) total += p.numel();
    EXPECT_NEAR(static_cast<double>(total), count, 0.005e9) << path;
  }
}

TEST(PlanByteSize, ParsesUnitsAndNamesTheOptionOnBadText) {
  EXPECT_EQ(trainer::parse_byte_size("80GiB", "--gpu-memory"), int64_t{80} << 30);
  EXPECT_EQ(trainer::parse_byte_size("80 GB", "--gpu-memory"), int64_t{80000000000});
  EXPECT_EQ(trainer::parse_byte_size("1.5MiB", "--gpu-memory"), int64_t{3} << 19);
  EXPECT_EQ(trainer::parse_byte_size("4096", "--gpu-memory"), 4096);
  for (const std::string bad : {"", "80GiBs", "eighty", "-1GiB", "1..5GB", "GiB", "0"}) {
    try {
      trainer::parse_byte_size(bad, "--gpu-memory");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find("--gpu-memory"), std::string::npos) << e.what();
    }
  }
}

// ZeRO-1's AdamW state: 1/N per rank, each bucket padded to a multiple of N.
TEST(PlanZero1, OptimizerStateIsOneNthPlusBucketPadding) {
  const auto shapes = models::read_architecture_shapes("configs/models/tiny-qwen2-vl.json");
  config::RunConfig run;
  run.distributed.bucket_mb = 0.01;  // 2,621 floats per bucket: several buckets
  config::BackboneConfig b;
  b.finetune = "full";
  b.freeze_vision = false;
  trainer::PlanOptions options;
  options.world_size = 8;
  const auto plan = trainer::plan_backbone(run, b, shapes, "tiny", 0, options);
  const int64_t n = plan.counts.trainable;
  const int64_t per_bucket = static_cast<int64_t>(0.01 * (1 << 20) / 4);
  const int64_t buckets = (n + per_bucket - 1) / per_bucket;
  EXPECT_GE(plan.optimizer_zero1, n * 8 / 8);
  EXPECT_LE(plan.optimizer_zero1, (n / 8 + buckets) * 8);
  EXPECT_EQ(plan.optimizer, n * 8);
}

}  // namespace
