// Behaviour beyond the golden numbers: config reading and errors, freezing, text-only batches in
// training, images shared by several sequences, LoRA target names of both LLMs, input errors.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "common/error.h"
#include "internvl_golden.h"
#include "models/batch_tensors.h"
#include "models/internvl_init.h"
#include "models/peft.h"
#include "models/registry.h"

namespace tokenfocus::models::testing {
namespace {

std::string config_text(const std::string& family) {
  std::ifstream in(internvl_family_dir(family) + "/config.json");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(InternVLConfig, ReadsGoldenConfigs) {
  const InternVLConfig qwen = parse_internvl_config(config_text("internvl2_5_qwen2"), "qwen");
  EXPECT_EQ(qwen.llm_type, "qwen2");
  EXPECT_EQ(qwen.vision.norm_type, "layer_norm");
  EXPECT_TRUE(qwen.vision.qkv_bias);
  EXPECT_FALSE(qwen.vision.qk_normalization);
  EXPECT_EQ(qwen.num_image_token(), 4);
  EXPECT_EQ(qwen.projector_in(), 128);
  EXPECT_EQ(qwen.ps_version, "v2");
  EXPECT_EQ(qwen.template_name, "internvl2_5");
  EXPECT_EQ(qwen.llm.pad_token_id, -1);
  const InternVLConfig lm = parse_internvl_config(config_text("internvl2_5_internlm2"), "lm");
  EXPECT_EQ(lm.llm_type, "internlm2");
  EXPECT_EQ(lm.rope_scaling_type, "dynamic");
  EXPECT_DOUBLE_EQ(lm.rope_scaling_factor, 2.0);
  EXPECT_EQ(lm.llm.pad_token_id, 496);
  EXPECT_FALSE(lm.llm_bias);
  EXPECT_DOUBLE_EQ(lm.llm.rms_norm_eps, 1e-5);
  // Written and read back: the same model.
  for (const InternVLConfig& config : {qwen, lm}) {
    const InternVLConfig again = parse_internvl_config(internvl_config_to_json(config), "again");
    EXPECT_EQ(internvl_config_to_json(again), internvl_config_to_json(config));
  }
}

TEST(InternVLConfig, BadValuesNameTheKey) {
  auto expect_error = [](const std::string& text, const std::string& needle) {
    try {
      parse_internvl_config(text, "x/config.json");
      ADD_FAILURE() << "no error for " << needle;
    } catch (const UserError& error) {
      EXPECT_NE(std::string(error.what()).find(needle), std::string::npos) << error.what();
    }
  };
  std::string text = config_text("internvl2_5_qwen2");
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string copy = text;
    const size_t at = copy.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return copy.replace(at, from.size(), to);
  };
  expect_error(replaced("\"ps_version\": \"v2\"", "\"ps_version\": \"v3\""), "ps_version");
  expect_error(replaced("\"model_type\": \"qwen2\"", "\"model_type\": \"llama\""), "llm_config");
  expect_error(replaced("\"norm_type\": \"layer_norm\"", "\"norm_type\": \"batch_norm\""),
               "norm_type");
  expect_error(replaced("\"select_layer\": -1", "\"select_layer\": -9"), "select_layer");
  expect_error(replaced("\"hidden_size\": 32", "\"hidden_size\": \"32\""), "hidden_size");
  expect_error("{\"model_type\": \"qwen2_vl\"}", "internvl_chat");
}

TEST(InternVLBehaviour, FreezeVisionKeepsProjectorTrainable) {
  auto backbone = fresh_internvl_backbone("internvl2_5_qwen2");
  backbone->freeze_vision(true);
  for (const auto& p : backbone->vision_model->parameters()) EXPECT_FALSE(p.requires_grad());
  for (const auto& p : backbone->mlp1->parameters()) EXPECT_TRUE(p.requires_grad());
  backbone->freeze_vision(false);
  for (const auto& p : backbone->vision_model->parameters()) EXPECT_TRUE(p.requires_grad());
}

// A text-only batch in training still runs a dummy tile: every vision and projector parameter gets
// a (zero) gradient, so ranks with and without images run the same collectives.
TEST(InternVLBehaviour, TextOnlyTrainingBatchGivesZeroVisionGradients) {
  auto backbone = fresh_internvl_backbone("internvl2_5_internlm2");
  backbone->train();
  ModelInputs inputs;
  inputs.input_ids = torch::tensor({{495, 497, 482, 481, 10, 11, 498, 481}});
  const FullForwardOutputs out = backbone->forward_full(inputs);
  out.logits.sum().backward();
  for (const auto& item : backbone->named_parameters()) {
    ASSERT_TRUE(item.value().grad().defined()) << item.key();
    if (item.key().rfind("language_model.", 0) != 0)
      EXPECT_EQ(item.value().grad().abs().max().item<double>(), 0.0) << item.key();
  }
  // Without gradients nothing but the text runs, and the result is the same.
  torch::NoGradGuard no_grad;
  EXPECT_LE(max_abs(backbone->forward_full(inputs).logits, out.logits), 1e-6);
}

// Two sequences showing one image (image_of_sequence) = each sequence with its own copy.
TEST(InternVLBehaviour, SharedImageEqualsDuplicatedTiles) {
  torch::NoGradGuard no_grad;
  auto backbone = internvl_backbone("internvl2_5_qwen2");
  const auto tensors =
      read_tensors(internvl_family_dir("internvl2_5_qwen2") + "/case_5tiles.safetensors");
  const ModelInputs single = internvl_case_inputs(tensors);
  const torch::Tensor alone = backbone->forward_full(single).logits;
  ModelInputs shared;
  shared.input_ids = torch::cat({single.input_ids, single.input_ids});
  shared.attention_mask = torch::cat({single.attention_mask, single.attention_mask});
  shared.pixel_values = single.pixel_values;
  shared.image_of_sequence = torch::tensor({0, 0});
  const torch::Tensor both = backbone->forward_full(shared).logits;
  EXPECT_LE(max_abs(both[0], alone[0]), 1e-5);
  EXPECT_LE(max_abs(both[1], alone[0]), 1e-5);
  // Too few tiles for the context tokens: one clear error.
  ModelInputs wrong = single;
  wrong.pixel_values = single.pixel_values.narrow(0, 0, 3);
  wrong.image_grid_thw = torch::Tensor();
  EXPECT_THROW(backbone->forward_full(wrong), UserError);
}

TEST(InternVLBehaviour, LoraTargetsUseCheckpointNames) {
  config::LoraConfig lora;
  lora.rank = 4;
  lora.target_modules = {"wqkv", "wo", "w1", "w2", "w3"};
  auto internlm2 = fresh_internvl_backbone("internvl2_5_internlm2");
  const auto tensors =
      read_tensors(internvl_family_dir("internvl2_5_internlm2") + "/case_1tile.safetensors");
  torch::Tensor before;
  {
    torch::NoGradGuard no_grad;
    before = internlm2->forward_full(internvl_case_inputs(tensors)).logits;
  }
  const auto adapted = apply_lora(*internlm2, lora);
  ASSERT_EQ(adapted.size(), 10u);
  EXPECT_EQ(adapted.front(), "language_model.model.layers.0.attention.wqkv");
  EXPECT_NE(
      std::find(adapted.begin(), adapted.end(), "language_model.model.layers.1.feed_forward.w2"),
      adapted.end());
  {
    torch::NoGradGuard no_grad;  // B = 0: the model is unchanged until trained
    EXPECT_LE(max_abs(internlm2->forward_full(internvl_case_inputs(tensors)).logits, before), 1e-6);
  }
  lora.target_modules = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                         "gate_proj", "up_proj", "down_proj"};
  auto qwen = fresh_internvl_backbone("internvl2_5_qwen2");
  const auto qwen_adapted = apply_lora(*qwen, lora);
  ASSERT_EQ(qwen_adapted.size(), 14u);
  EXPECT_EQ(qwen_adapted.front(), "language_model.model.layers.0.self_attn.q_proj");
  // The vision tower's attention (attn.qkv / attn.proj) and mlp1 are left alone.
  for (const auto& name : qwen_adapted) EXPECT_EQ(name.rfind("language_model.", 0), 0u) << name;
}

TEST(InternVLBehaviour, ContextTokensWithoutPixelsAreAnError) {
  torch::NoGradGuard no_grad;
  auto backbone = internvl_backbone("internvl2_5_qwen2");
  ModelInputs inputs;
  inputs.input_ids = torch::tensor({{497, 501, 501, 501, 501, 498}});
  EXPECT_THROW(backbone->forward_full(inputs), UserError);
}

// A batch the trainer builds (data::Batch: [tiles,3,S,S] images, sequences sharing them, left
// padding) gives every sequence the hidden state it gets alone. Tolerance 1e-5: the same fp32 maths
// on rows of other lengths (padding only adds masked columns), activations of order 1.
TEST(InternVLBehaviour, TrainerBatchesOfTilesMatchSequencesAlone) {
  const std::string dir =
      std::string(TOKENFOCUS_BINARY_DIR) + "/internvl_batch_" + std::to_string(::getpid());
  init_internvl_model_folder(
      std::string(TOKENFOCUS_SOURCE_DIR) + "/configs/models/tiny-internvl2.5.json", dir, 3);
  auto backbone = load_backbone(dir);
  backbone->eval();
  torch::manual_seed(5);
  auto tile_image = [](int64_t tiles) {
    data::BatchImage image;
    image.shape = {tiles, 3, 56, 56};
    const torch::Tensor pixels = torch::randn({tiles, 3, 56, 56});
    image.pixel_values.assign(pixels.data_ptr<float>(), pixels.data_ptr<float>() + pixels.numel());
    return image;
  };
  // <|im_start|> user \n <img> <IMG_CONTEXT>×4·tiles </img> \n question... (tiny-tokenizer ids)
  auto sequence = [](int64_t tiles, std::vector<int64_t> question) {
    std::vector<int64_t> ids{503, 300, 10, 509};
    for (int64_t i = 0; i < 4 * tiles; ++i) ids.push_back(511);
    ids.push_back(510);
    ids.insert(ids.end(), question.begin(), question.end());
    return ids;
  };
  const std::vector<data::BatchImage> images{tile_image(1), tile_image(2)};
  const std::vector<std::pair<int64_t, std::vector<int64_t>>> rows{
      {0, sequence(1, {40, 41, 42, 43, 44})},
      {1, sequence(2, {45, 46})},
      {0, sequence(1, {47})}};  // shares image 0 with the first row

  auto batch_of = [&](const std::vector<size_t>& which) {
    data::Batch batch;
    std::map<int64_t, int64_t> image_index;
    for (size_t r : which) {
      const int64_t image = rows[r].first;
      if (!image_index.count(image)) {
        image_index[image] = static_cast<int64_t>(batch.images.size());
        batch.images.push_back(images[static_cast<size_t>(image)]);
      }
      batch.seq_len = std::max<int64_t>(batch.seq_len, rows[r].second.size());
    }
    for (size_t r : which) {
      const auto& ids = rows[r].second;
      const int64_t pad = batch.seq_len - static_cast<int64_t>(ids.size());
      for (int64_t i = 0; i < pad; ++i)
        batch.input_ids.push_back(502), batch.attention_mask.push_back(0);
      for (int64_t id : ids) batch.input_ids.push_back(id), batch.attention_mask.push_back(1);
      data::BatchSequence s;
      s.image = image_index[rows[r].first];
      s.row = static_cast<int64_t>(batch.sequences.size());
      s.query_position = batch.seq_len - 1;
      batch.sequences.push_back(s);
    }
    return batch;
  };
  torch::NoGradGuard no_grad;
  const data::Batch all = batch_of({0, 1, 2});
  const ModelInputs inputs = to_model_inputs(all);
  EXPECT_EQ(inputs.pixel_values.sizes().vec(), (std::vector<int64_t>{3, 3, 56, 56}));
  EXPECT_EQ(inputs.image_grid_thw.sizes().vec(), (std::vector<int64_t>{3}));  // image_flags
  const torch::Tensor together = backbone->hidden_at(inputs, query_positions(all));
  for (size_t r = 0; r < rows.size(); ++r) {
    const data::Batch one = batch_of({r});
    const torch::Tensor alone = backbone->hidden_at(to_model_inputs(one), query_positions(one));
    EXPECT_LT((together[static_cast<int64_t>(r)] - alone[0]).abs().max().item<double>(), 1e-5)
        << "row " << r;
  }
  // Images of different tile sizes in one batch are refused, naming the image.
  data::Batch mixed = batch_of({0, 1});
  mixed.images[1].shape = {1, 3, 112, 112};
  mixed.images[1].pixel_values.resize(3 * 112 * 112);
  try {
    to_model_inputs(mixed);
    FAIL() << "mixed tile sizes accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("image 1 is not a [tiles, 3, 56, 56] tile stack"),
              std::string::npos)
        << e.what();
  }
  std::filesystem::remove_all(dir);
}

// The tiny demo config: initialised, written, read back through the registry, run on 2 tiles.
TEST(InternVLBehaviour, TinyConfigInitialisesWritesAndLoads) {
  const std::string dir =
      std::string(TOKENFOCUS_BINARY_DIR) + "/internvl_tiny_" + std::to_string(::getpid());
  init_internvl_model_folder(
      std::string(TOKENFOCUS_SOURCE_DIR) + "/configs/models/tiny-internvl2.5.json", dir, 7);
  auto loaded = load_backbone(dir);
  ASSERT_EQ(loaded->model_type(), "internvl_chat");
  auto backbone = std::dynamic_pointer_cast<InternVLBackbone>(loaded);
  ASSERT_TRUE(backbone);
  EXPECT_EQ(backbone->config().num_image_token(), 4);  // 56-px tiles: 4×4 patches, shuffled 2×2
  EXPECT_EQ(backbone->config().img_context_token_id, 511);
  std::vector<int64_t> ids{503, 10, 11, 508};
  for (int i = 0; i < 8; ++i) ids.push_back(511);
  ids.insert(ids.end(), {509, 12, 504, 503, 13});
  ModelInputs inputs;
  inputs.input_ids = torch::tensor(ids).unsqueeze(0);
  inputs.pixel_values = torch::randn({2, 3, 56, 56});
  torch::NoGradGuard no_grad;
  const FullForwardOutputs out = backbone->forward_full(inputs);
  EXPECT_EQ(out.logits.sizes().vec(),
            (std::vector<int64_t>{1, static_cast<int64_t>(ids.size()), 512}));
  EXPECT_TRUE(torch::isfinite(out.logits).all().item<bool>());
  EXPECT_GT(out.logits.std().item<double>(), 0.0);
  // Weights read back bit-identical to a fresh initialisation with the same seed.
  auto again = build_internvl_backbone(backbone->config());
  init_internvl_weights(*again, 7);
  for (const auto& item : again->named_parameters())
    EXPECT_TRUE(torch::equal(item.value(), backbone->named_parameters()[item.key()])) << item.key();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tokenfocus::models::testing
