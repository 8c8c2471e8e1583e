// Tiny models: Hugging Face's initialisation, folders that load back strictly, the demo configs.
#include <unistd.h>
#include <filesystem>

#include <gtest/gtest.h>

#include "common/error.h"
#include "golden_cases.h"
#include "models/init.h"
#include "models/registry.h"
#include "models/safetensors.h"

namespace tokenfocus::models::testing {
namespace {

namespace fs = std::filesystem;

std::string demo_config(const std::string& name) {
  return std::string(TOKENFOCUS_SOURCE_DIR) + "/configs/models/" + name + ".json";
}

class TinyConfigTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TinyConfigTest, InitialisesLikeHuggingFaceAndLoadsBack) {
  const HfModelConfig config = read_hf_config(demo_config(GetParam()));
  EXPECT_EQ(config.vocab_size, 512);
  // The tiny tokenizer puts its specials at the top ids: <|endoftext|> 502 ... <|video_pad|> 508.
  EXPECT_EQ(config.vision_start_token_id, 505);
  EXPECT_EQ(config.image_token_id, 507);
  auto backbone = build_backbone(config);
  init_weights(*backbone, config, 11);
  for (const auto& item : backbone->named_parameters()) {
    const std::string& name = item.key();
    const torch::Tensor& parameter = item.value();
    if (name.find("norm") != std::string::npos || name.find("ln_q") != std::string::npos) {
      if (name.size() > 5 && name.substr(name.size() - 5) == ".bias")
        EXPECT_EQ(parameter.abs().max().item<float>(), 0.0f) << name;
      else
        EXPECT_TRUE(torch::equal(parameter, torch::ones_like(parameter))) << name;
    } else if (name.size() > 5 && name.substr(name.size() - 5) == ".bias") {
      EXPECT_EQ(parameter.abs().max().item<float>(), 0.0f) << name;
    } else if (parameter.numel() >= 4096) {
      // N(0, σ²) with σ = initializer_range: the sample std of >= 4096 draws is within 5% of σ.
      EXPECT_NEAR(parameter.std().item<double>(), config.initializer_range,
                  0.05 * config.initializer_range)
          << name;
      EXPECT_NEAR(parameter.mean().item<double>(), 0.0, 0.002) << name;
    }
  }
  // Same seed, same weights; another seed, other weights.
  auto same = build_backbone(config);
  init_weights(*same, config, 11);
  auto other = build_backbone(config);
  init_weights(*other, config, 12);
  EXPECT_TRUE(torch::equal(same->lm_head_weight(), backbone->lm_head_weight()));
  EXPECT_FALSE(torch::equal(other->lm_head_weight(), backbone->lm_head_weight()));

  const fs::path dir = fs::temp_directory_path() /
                       ("tokenfocus_init_" + GetParam() + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  init_model_folder(
      demo_config(GetParam()), dir.string(), 11,
      read_preprocessor_settings(std::string(TOKENFOCUS_SOURCE_DIR) + "/configs/models/" +
                                 GetParam() + ".preprocessor_config.json"));
  EXPECT_TRUE(fs::exists(dir / "preprocessor_config.json"));
  auto loaded = load_backbone(dir.string());
  EXPECT_EQ(loaded->model_type(), config.model_type);
  const auto written = load_safetensors((dir / "model.safetensors").string());
  for (const auto& item : backbone->named_parameters()) {
    const std::string& name = item.key();
    const torch::Tensor& parameter = item.value();
    EXPECT_TRUE(torch::equal(written.at(name), parameter)) << name;
  }
  // A forward pass of a 56x56 image (2x2 merged tokens) runs on the loaded model.
  ModelInputs inputs;
  inputs.input_ids =
      torch::tensor({503, 505, 507, 507, 507, 507, 506, 40, 41, 504}, torch::kLong).unsqueeze(0);
  inputs.attention_mask = torch::ones_like(inputs.input_ids);
  inputs.pixel_values = torch::randn({16, 1176});
  inputs.image_grid_thw = torch::tensor({1, 4, 4}, torch::kLong).view({1, 3});
  torch::NoGradGuard no_grad;
  const FullForwardOutputs out = loaded->forward_full(inputs);
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{1, 10, 512}));
  EXPECT_TRUE(out.logits.isfinite().all().item<bool>());
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Demo, TinyConfigTest,
                         ::testing::Values("tiny-qwen2-vl", "tiny-qwen2.5-vl"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return name;
                         });

TEST(TinyConfig, LoadingAFolderWithAMissingTensorNamesIt) {
  const HfModelConfig config = read_hf_config(demo_config("tiny-qwen2-vl"));
  auto backbone = build_backbone(config);
  const fs::path dir =
      fs::temp_directory_path() / ("tokenfocus_init_missing_" + std::to_string(getpid()));
  fs::remove_all(dir);
  write_model_folder(dir.string(), config, *backbone, {});
  auto tensors = load_safetensors((dir / "model.safetensors").string());
  std::map<std::string, torch::Tensor> copy;
  for (const auto& [name, tensor] : tensors)
    if (name != "visual.merger.mlp.0.bias") copy[name] = tensor.clone();
  tensors.clear();
  save_safetensors((dir / "model.safetensors").string(), copy);
  try {
    load_backbone(dir.string());
    FAIL() << "a missing tensor was accepted";
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find("visual.merger.mlp.0.bias"), std::string::npos)
        << error.what();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tokenfocus::models::testing
