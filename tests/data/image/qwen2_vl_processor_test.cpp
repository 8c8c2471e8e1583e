// Qwen2VLImageProcessor against Hugging Face transformers 4.49 outputs in ../shared/golden:
// qwen2_vl_preprocess (min_pixels 3136, max_pixels 200704: every smart_resize branch) and the
// raw images inside the tiny-model cases of qwen2_vl / qwen2_5_vl (default settings).
// With Pillow-exact resizing and HF's float order the values are expected bit-equal; the
// tolerance 1e-6 is the golden README's bound for an exact match.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "common/error.h"
#include "data/image_processor.h"
#include "data/qwen2_vl_image_processor.h"
#include "tests/data/image/test_support.h"

namespace tokenfocus::data {
namespace {

namespace fs = std::filesystem;

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b, size_t offset = 0) {
  float worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[offset + i]));
  return worst;
}

TEST(Qwen2VLImageProcessor, GoldenPreprocessFiles) {
  const std::string folder = "../shared/golden/qwen2_vl_preprocess";
  ImageProcessorSettings settings = read_image_processor_settings(folder);
  settings.pass_order = ResizePassOrder::kPillow12;  // the golden files were made with Pillow 9.4
  ASSERT_EQ(settings.model_type, "qwen2_vl");
  ASSERT_EQ(settings.max_pixels, 200704);
  const auto processor = make_image_processor(settings);
  int files = 0;
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (entry.path().extension() != ".safetensors") continue;
    SCOPED_TRACE(entry.path().string());
    auto golden = testing::read_safetensors(entry.path().string());
    const ProcessedImage out =
        processor->process(testing::image_from_tensor(golden.at("image_hwc_uint8")));
    const auto grid = golden.at("image_grid_thw").values<int64_t>();
    EXPECT_EQ(out.grid_thw[0], grid[0]);
    EXPECT_EQ(out.grid_thw[1], grid[1]);
    EXPECT_EQ(out.grid_thw[2], grid[2]);
    EXPECT_EQ(out.shape, golden.at("pixel_values").shape);
    EXPECT_EQ(out.num_image_tokens, grid[0] * grid[1] * grid[2] / 4);
    const auto expected = golden.at("pixel_values").values<float>();
    ASSERT_EQ(out.pixel_values.size(), expected.size());
    const float diff = max_abs_diff(out.pixel_values, expected);
    std::printf("%s: grid %lldx%lldx%lld, pixel_values max abs diff %g\n",
                entry.path().filename().c_str(), (long long)grid[0], (long long)grid[1],
                (long long)grid[2], diff);
    EXPECT_LE(diff, 1e-6f);
    ++files;
  }
  EXPECT_EQ(files, 4);
}

// The tiny-model cases: images fed to the processor with its defaults (one resized, 90x120).
TEST(Qwen2VLImageProcessor, GoldenModelCases) {
  for (const char* family : {"qwen2_vl", "qwen2_5_vl"}) {
    const std::string folder = std::string("../shared/golden/") + family;
    const ImageProcessorSettings settings = read_image_processor_settings(folder);
    EXPECT_EQ(settings.model_type, family);
    const auto processor = make_image_processor(settings);
    for (const char* name : {"case_1x4x4", "case_1x6x8", "case_batch2_leftpad"}) {
      SCOPED_TRACE(std::string(family) + "/" + name);
      auto golden = testing::read_safetensors(folder + "/" + name + ".safetensors");
      const auto expected = golden.at("pixel_values").values<float>();
      const auto grids = golden.at("image_grid_thw").values<int64_t>();
      size_t offset = 0;
      for (size_t i = 0; golden.count("image_" + std::to_string(i) + "_hwc_uint8"); ++i) {
        const ProcessedImage out = processor->process(
            testing::image_from_tensor(golden.at("image_" + std::to_string(i) + "_hwc_uint8")));
        EXPECT_EQ(out.grid_thw[0], grids[i * 3 + 0]);
        EXPECT_EQ(out.grid_thw[1], grids[i * 3 + 1]);
        EXPECT_EQ(out.grid_thw[2], grids[i * 3 + 2]);
        ASSERT_LE(offset + out.pixel_values.size(), expected.size());
        EXPECT_LE(max_abs_diff(out.pixel_values, expected, offset), 1e-6f);
        offset += out.pixel_values.size();
      }
      EXPECT_EQ(offset, expected.size());
    }
  }
}

TEST(Qwen2VLImageProcessor, SmartResizeRoundsHalfToEven) {
  // 42 / 28 = 1.5 -> 2, 70 / 28 = 2.5 -> 2 (Python round), 98 / 28 = 3.5 -> 4.
  EXPECT_EQ(qwen2_vl_smart_resize(42, 70, 28, 56 * 56, 28 * 28 * 1280), std::make_pair(56L, 56L));
  EXPECT_EQ(qwen2_vl_smart_resize(98, 98, 28, 56 * 56, 28 * 28 * 1280), std::make_pair(112L, 112L));
  // Branches as in the golden README: too many pixels (floor) and too few (ceil).
  EXPECT_EQ(qwen2_vl_smart_resize(480, 640, 28, 3136, 200704), std::make_pair(364L, 504L));
  EXPECT_EQ(qwen2_vl_smart_resize(30, 40, 28, 3136, 200704), std::make_pair(56L, 84L));
}

TEST(Qwen2VLImageProcessor, RejectsWhatHuggingFaceRejects) {
  try {
    qwen2_vl_smart_resize(20, 100, 28, 3136, 200704);
    FAIL();
  } catch (const UserError& e) {
    EXPECT_STREQ(
        e.what(),
        "image of 100x20 (width x height) is too small: both sides must be at least 28 px");
  }
  try {
    qwen2_vl_smart_resize(30, 6100, 28, 3136, 200704);
    FAIL();
  } catch (const UserError& e) {
    EXPECT_STREQ(e.what(),
                 "image of 6100x30 (width x height) has an aspect ratio of 203.3; at most 200 is "
                 "supported");
  }
}

}  // namespace
}  // namespace tokenfocus::data
