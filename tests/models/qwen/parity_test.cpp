// Forward parity with Hugging Face transformers on every case of the golden folders (4.49, files
// made once) or of folders made live by the installed transformers (make_qwen_cases.py): logits at
// real tokens, image embeddings, every decoder hidden state, the vision tower's intermediates,
// M-RoPE ids, and the processor's pixel values from the raw images. Tolerances (fp32): the golden
// README measured HF's own fp32-vs-fp64 spread at <= 7e-6 for logits and <= 3e-6 for image
// embeddings; 1e-4 leaves room for a different (equally valid) summation order in matmul/softmax
// while still catching any wrong formula (those give errors ~1e-1).
#include <cstdio>
#include <filesystem>

#include <gtest/gtest.h>

#include "data/image.h"
#include "data/image_processor.h"
#include "golden_cases.h"
#include "models/qwen2_vl_model.h"
#include "models/safetensors.h"

namespace tokenfocus::models::testing {
namespace {

constexpr double kForwardTolerance = 1e-4;

// Whether the case came from transformers 4.x (the golden files: 4.49 with Pillow 9.4), as its
// metadata says; the live cases come from the installed transformers 5 and Pillow 13.
bool made_by_transformers_4(const std::string& case_path) {
  const auto metadata = SafetensorsFile::open(case_path).metadata();
  const auto version = metadata.find("transformers");
  return version == metadata.end() || version->second.rfind("4.", 0) == 0;
}

class GoldenCaseTest : public ::testing::TestWithParam<GoldenCase> {};

TEST(GoldenCases, EveryFamilyHasCases) {
  for (const auto& family : qwen_families()) {
    ASSERT_TRUE(std::filesystem::exists(family_dir(family) + "/config.json")) << family_dir(family);
    EXPECT_FALSE(case_files(family).empty()) << "no case_*.safetensors in " << family_dir(family);
  }
}

TEST_P(GoldenCaseTest, ForwardMatchesHuggingFace) {
  const GoldenCase& golden = GetParam();
  const auto tensors = read_case(golden.path);
  auto backbone = std::dynamic_pointer_cast<QwenVLBackbone>(golden_backbone(golden.family));
  ASSERT_TRUE(backbone);
  torch::NoGradGuard no_grad;
  const FullForwardOutputs out = backbone->forward_full(case_inputs(tensors));

  // M-RoPE ids at real tokens, exactly (padding's ids are never used, and transformers 4.49
  // wrote 1 there where 5.x writes 0).
  const torch::Tensor real = tensors.at("attention_mask") == 1;  // [B,S]
  const auto at_real = [&](const torch::Tensor& ids) {
    return ids.permute({1, 2, 0}).index({real});
  };
  EXPECT_TRUE(torch::equal(at_real(out.position_ids), at_real(tensors.at("position_ids"))))
      << "position_ids differ";
  // rope_deltas = (largest position + 1) - length. transformers 4.49 (and we, so that generation's
  // positions line up with the padded cache) take the padded length; 5.x takes the real tokens'.
  torch::Tensor expected_deltas = tensors.at("rope_deltas");
  if (!made_by_transformers_4(golden.path)) {
    const torch::Tensor padding = real.size(1) - real.sum(1, /*keepdim=*/true);
    expected_deltas = expected_deltas - padding;
  }
  EXPECT_TRUE(torch::equal(out.rope_deltas, expected_deltas))
      << out.rope_deltas << " vs " << expected_deltas;

  const double logits_error =
      max_abs_diff(out.logits.index({real}), tensors.at("logits").index({real}));
  const double embeds_error = max_abs_diff(out.image_embeds, tensors.at("image_embeds"));
  double hidden_error = 0.0;
  const torch::Tensor expected_hidden = tensors.at("text_hidden_states");
  ASSERT_EQ(static_cast<int64_t>(out.hidden_states.size()), expected_hidden.size(0));
  for (size_t l = 0; l < out.hidden_states.size(); ++l)
    hidden_error = std::max(hidden_error,
                            max_abs_diff(out.hidden_states[l].index({real}),
                                         expected_hidden[static_cast<int64_t>(l)].index({real})));
  std::printf(
      "[parity] %s/%s: max |logits - HF| = %.3g, |image_embeds - HF| = %.3g, |hidden - HF| = "
      "%.3g\n",
      golden.family.c_str(), golden.name.c_str(), logits_error, embeds_error, hidden_error);
  RecordProperty("logits_max_abs_error", std::to_string(logits_error));
  RecordProperty("image_embeds_max_abs_error", std::to_string(embeds_error));
  EXPECT_LE(logits_error, kForwardTolerance);
  EXPECT_LE(embeds_error, kForwardTolerance);
  EXPECT_LE(hidden_error, kForwardTolerance);
}

TEST_P(GoldenCaseTest, VisionIntermediatesMatchHuggingFace) {
  const GoldenCase& golden = GetParam();
  const auto tensors = read_case(golden.path);
  auto backbone = std::dynamic_pointer_cast<QwenVLBackbone>(golden_backbone(golden.family));
  ASSERT_TRUE(backbone);
  torch::NoGradGuard no_grad;
  VisionTrace trace;
  const torch::Tensor embeds = backbone->image_features(case_inputs(tensors), &trace);
  double worst = 0.0;
  if (tensors.count("vision_patch_embed"))
    worst = std::max(worst, max_abs_diff(trace.patch_embed, tensors.at("vision_patch_embed")));
  int checked_blocks = 0;
  for (size_t k = 0; k < trace.blocks.size(); ++k) {
    const std::string name = "vision_block_" + std::to_string(k);
    if (!tensors.count(name)) continue;
    const double error = max_abs_diff(trace.blocks[k], tensors.at(name));
    EXPECT_LE(error, kForwardTolerance) << name;
    worst = std::max(worst, error);
    ++checked_blocks;
  }
  EXPECT_EQ(checked_blocks, static_cast<int>(trace.blocks.size()))
      << "the case should trace every block";
  if (tensors.count("vision_merger_raw"))
    worst = std::max(worst, max_abs_diff(trace.merger_raw, tensors.at("vision_merger_raw")));
  if (tensors.count("vision_window_index")) {
    EXPECT_TRUE(torch::equal(trace.window_index, tensors.at("vision_window_index")));
  }
  if (tensors.count("vision_cu_window_seqlens")) {
    EXPECT_TRUE(torch::equal(trace.cu_window_seqlens,
                             tensors.at("vision_cu_window_seqlens").to(torch::kLong)))
        << trace.cu_window_seqlens << " vs " << tensors.at("vision_cu_window_seqlens");
  }
  std::printf("[parity] %s/%s: vision intermediates max |ours - HF| = %.3g\n",
              golden.family.c_str(), golden.name.c_str(), worst);
  EXPECT_LE(worst, kForwardTolerance);
  EXPECT_LE(max_abs_diff(embeds, tensors.at("image_embeds")), kForwardTolerance);
}

// The raw uint8 images through our Qwen2-VL image processor give HF's pixel_values. The processor
// normalises with float32 mean/std like HF's numpy path; without resizing only float rounding
// differs (1e-5). The resized case also depends on the bicubic resampling and its uint8 rounding:
// a pixel off by one 1/255 step moves a value by 1/255/std ≈ 0.015, so allow 2 steps there and
// report the mean error.
TEST_P(GoldenCaseTest, ProcessorReproducesPixelValues) {
  const GoldenCase& golden = GetParam();
  const auto tensors = read_case(golden.path);
  data::ImageProcessorSettings settings =
      data::read_image_processor_settings(family_dir(golden.family));
  // Pillow 9.4 made the golden files' pixel values, the installed Pillow 13 the live cases'.
  if (made_by_transformers_4(golden.path)) settings.pass_order = data::ResizePassOrder::kPillow12;
  const auto processor = data::make_image_processor(settings);
  const torch::Tensor grid = tensors.at("image_grid_thw");
  std::vector<torch::Tensor> rows;
  bool resized = false;
  for (int64_t i = 0; i < grid.size(0); ++i) {
    const torch::Tensor raw = tensors.at("image_" + std::to_string(i) + "_hwc_uint8").contiguous();
    data::RgbImage image;
    image.height = raw.size(0);
    image.width = raw.size(1);
    image.pixels.assign(raw.data_ptr<uint8_t>(), raw.data_ptr<uint8_t>() + raw.numel());
    const data::ProcessedImage processed = processor->process(image);
    EXPECT_EQ(processed.grid_thw[0], grid[i][0].item<int64_t>());
    EXPECT_EQ(processed.grid_thw[1], grid[i][1].item<int64_t>());
    EXPECT_EQ(processed.grid_thw[2], grid[i][2].item<int64_t>());
    resized = resized || processed.grid_thw[1] * 14 != image.height ||
              processed.grid_thw[2] * 14 != image.width;
    rows.push_back(torch::from_blob(const_cast<float*>(processed.pixel_values.data()),
                                    {processed.shape[0], processed.shape[1]}, torch::kFloat)
                       .clone());
  }
  const torch::Tensor ours = torch::cat(rows, 0);
  const torch::Tensor expected = tensors.at("pixel_values");
  ASSERT_EQ(ours.sizes(), expected.sizes());
  const double error = max_abs_diff(ours, expected);
  const double mean_error = (ours - expected).abs().mean().item<double>();
  std::printf("[parity] %s/%s: pixel_values max |ours - HF| = %.3g (mean %.3g)%s\n",
              golden.family.c_str(), golden.name.c_str(), error, mean_error,
              resized ? " [resized by the processor]" : "");
  EXPECT_LE(error, resized ? 2.0 / 255.0 / 0.26130258 + 1e-5 : 1e-5);
}

std::string case_name(const ::testing::TestParamInfo<GoldenCase>& info) {
  return info.param.family + "_" + info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Golden, GoldenCaseTest, ::testing::ValuesIn(all_cases()), case_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(GoldenCaseTest);

}  // namespace
}  // namespace tokenfocus::models::testing
