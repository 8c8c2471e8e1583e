// config.json reading: Hugging Face omits keys equal to its defaults, so the defaults must be ours.
#include <gtest/gtest.h>

#include "common/error.h"
#include "golden_cases.h"
#include "models/hf_config.h"

namespace tokenfocus::models::testing {
namespace {

TEST(HfConfig, Qwen2VlGoldenGetsVisionDefaults) {
  const HfModelConfig config = read_hf_config(family_dir("qwen2_vl") + "/config.json");
  EXPECT_EQ(config.model_type, "qwen2_vl");
  EXPECT_EQ(config.hidden_size, 64);
  EXPECT_EQ(config.num_key_value_heads, 2);
  EXPECT_EQ(config.mrope_section, (std::vector<int64_t>{2, 3, 3}));
  EXPECT_EQ(config.image_token_id, 501);
  EXPECT_EQ(config.pad_token_id, -1);
  EXPECT_EQ(config.vision.hidden_size, 32);      // embed_dim
  EXPECT_EQ(config.vision.out_hidden_size, 64);  // Qwen2-VL's vision hidden_size
  EXPECT_EQ(config.vision.patch_size, 14);       // omitted: HF default
  EXPECT_EQ(config.vision.temporal_patch_size, 2);
  EXPECT_EQ(config.vision.spatial_merge_size, 2);
  EXPECT_EQ(config.vision.hidden_act, "quick_gelu");
  EXPECT_DOUBLE_EQ(config.vision.mlp_ratio, 4.0);
}

TEST(HfConfig, Qwen2_5VlGoldenGetsVisionDefaults) {
  const HfModelConfig config = read_hf_config(family_dir("qwen2_5_vl") + "/config.json");
  EXPECT_EQ(config.model_type, "qwen2_5_vl");
  EXPECT_EQ(config.vision.depth, 4);
  EXPECT_EQ(config.vision.hidden_size, 32);
  EXPECT_EQ(config.vision.intermediate_size, 64);
  EXPECT_EQ(config.vision.window_size, 56);
  EXPECT_EQ(config.vision.fullatt_block_indexes, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(config.vision.hidden_act, "silu");
  EXPECT_EQ(config.vision.in_channels, 3);
}

TEST(HfConfig, RoundTripsThroughJson) {
  const HfModelConfig config = read_hf_config(family_dir("qwen2_5_vl") + "/config.json");
  const HfModelConfig again = parse_hf_config(hf_config_to_json(config), "round trip");
  EXPECT_EQ(again.vision.fullatt_block_indexes, config.vision.fullatt_block_indexes);
  EXPECT_EQ(again.vision.out_hidden_size, config.vision.out_hidden_size);
  EXPECT_EQ(again.mrope_section, config.mrope_section);
  EXPECT_EQ(again.num_hidden_layers, config.num_hidden_layers);
}

void expect_user_error(const std::string& json, const std::string& fragment) {
  try {
    parse_hf_config(json, "bad.json");
    FAIL() << "accepted: " << json;
  } catch (const UserError& error) {
    EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("bad.json"), std::string::npos) << error.what();
  }
}

TEST(HfConfig, RejectsBadInputNamingTheKey) {
  const std::string base =
      R"("hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 512,
         "image_token_id": 501, "video_token_id": 502, "vision_start_token_id": 499,
         "vision_end_token_id": 500, "rope_scaling": {"mrope_section": [2, 3, 3]})";
  expect_user_error("{", "not valid JSON");
  expect_user_error(R"({"model_type": "llama"})", "model_type 'llama'");
  expect_user_error(R"({"model_type": "qwen2_vl", "hidden_size": "big"})", "hidden_size");
  expect_user_error(
      R"({"model_type": "qwen2_vl", )" + base + R"(, "vision_config": {"hidden_size": 32}})",
      "hidden_size is 64");
  expect_user_error(R"({"model_type": "qwen2_vl", "hidden_size": 64, "num_attention_heads": 4,
                        "num_key_value_heads": 2, "rope_scaling": {"mrope_section": [2, 2, 2]}, "vision_config": {"hidden_size": 64}})",
                    "mrope_section");
  expect_user_error(R"({"model_type": "qwen2_5_vl", )" + base +
                        R"(, "vision_config": {"out_hidden_size": 64, "window_size": 50}})",
                    "window_size");
}

}  // namespace
}  // namespace tokenfocus::models::testing
