// InternVL dynamic tiling against OpenGVLab's dataset.py outputs in ../shared/golden:
// internvl_preprocess (448 px, max 12 tiles, thumbnail) and the tiny-model cases of
// internvl2_5_qwen2 / internvl2_5_internlm2 (56 px tiles, max 4). The uint8 tiles are expected
// exact (Pillow-exact bicubic); float values then follow exactly (the README verified
// pixel_values == (u8 / 255 - mean) / std in float32), so sums get rtol 1e-6 (fp64 accumulation
// order) and the stride-7 subsample 1e-6.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "data/image_processor.h"
#include "data/internvl_image_processor.h"
#include "tests/data/image/test_support.h"

namespace tokenfocus::data {
namespace {

namespace fs = std::filesystem;

ImageProcessorSettings real_internvl_settings() {
  ImageProcessorSettings s;
  s.model_type = "internvl_chat";
  s.image_size = 448;
  s.min_tiles = 1;
  s.max_tiles = 12;
  s.use_thumbnail = true;
  s.mean = {0.485f, 0.456f, 0.406f};
  s.std = {0.229f, 0.224f, 0.225f};
  s.num_image_token_per_tile = 256;
  s.pass_order = ResizePassOrder::kPillow12;  // the golden files were made with Pillow 9.4
  return s;
}

TEST(InternVLImageProcessor, GoldenPreprocessFiles) {
  const ImageProcessorSettings settings = real_internvl_settings();
  const InternVLImageProcessor processor(settings);
  int files = 0;
  for (const auto& entry : fs::directory_iterator("../shared/golden/internvl_preprocess")) {
    if (entry.path().extension() != ".safetensors") continue;
    SCOPED_TRACE(entry.path().string());
    auto golden = testing::read_safetensors(entry.path().string());
    const RgbImage image = testing::image_from_tensor(golden.at("image_hwc_uint8"));
    const auto cols_rows = golden.at("cols_rows").values<int64_t>();
    const auto grid = internvl_closest_grid(image.width, image.height, 448, 1, 12);
    EXPECT_EQ(grid.first, cols_rows[0]);
    EXPECT_EQ(grid.second, cols_rows[1]);

    const std::vector<RgbImage> tiles = processor.tiles(image);
    const int64_t num_tiles = golden.at("num_tiles").values<int64_t>()[0];
    ASSERT_EQ(static_cast<int64_t>(tiles.size()), num_tiles);
    const auto u8_sums = golden.at("tiles_u8_sum").values<int64_t>();
    int64_t worst_sum_diff = 0;
    for (int64_t t = 0; t < num_tiles; ++t) {
      for (int c = 0; c < 3; ++c) {
        int64_t sum = 0;
        for (size_t i = c; i < tiles[t].pixels.size(); i += 3) sum += tiles[t].pixels[i];
        worst_sum_diff = std::max(worst_sum_diff, std::abs(sum - u8_sums[t * 3 + c]));
      }
    }
    EXPECT_EQ(worst_sum_diff, 0);
    if (golden.count("tile0_hwc_uint8")) {
      EXPECT_EQ(tiles.front().pixels, golden.at("tile0_hwc_uint8").bytes);
      EXPECT_EQ(tiles.back().pixels, golden.at("thumbnail_hwc_uint8").bytes);
    }

    const ProcessedImage out = processor.process(image);
    EXPECT_EQ(out.shape, (std::vector<int64_t>{num_tiles, 3, 448, 448}));
    EXPECT_EQ(out.num_image_tokens, 256 * num_tiles);
    EXPECT_EQ(out.grid_thw, (std::array<int64_t, 3>{0, 0, 0}));
    const auto sub7 = golden.at("pixel_values_sub7").values<float>();
    const auto sums = golden.at("pixel_values_sum").values<double>();
    const auto sumsq = golden.at("pixel_values_sumsq").values<double>();
    float worst_sub7 = 0;
    double worst_sum_rel = 0;
    for (int64_t t = 0; t < num_tiles; ++t) {
      for (int c = 0; c < 3; ++c) {
        const float* plane = out.pixel_values.data() + (t * 3 + c) * 448 * 448;
        for (int y = 0; y < 64; ++y) {
          for (int x = 0; x < 64; ++x) {
            const float expected = sub7[((t * 3 + c) * 64 + y) * 64 + x];
            worst_sub7 =
                std::max(worst_sub7, std::abs(plane[(3 + 7 * y) * 448 + 3 + 7 * x] - expected));
          }
        }
        double s = 0, sq = 0;
        for (int i = 0; i < 448 * 448; ++i) {
          s += plane[i];
          sq += double(plane[i]) * plane[i];
        }
        worst_sum_rel = std::max(worst_sum_rel, std::abs(s - sums[t * 3 + c]) /
                                                    std::max(1.0, std::abs(sums[t * 3 + c])));
        worst_sum_rel = std::max(worst_sum_rel, std::abs(sq - sumsq[t * 3 + c]) / sumsq[t * 3 + c]);
      }
    }
    std::printf(
        "%s: grid %lldx%lld, %lld tiles, u8 sum diff %lld, sub7 max abs diff %g, sums rel "
        "diff %g\n",
        entry.path().filename().c_str(), (long long)grid.first, (long long)grid.second,
        (long long)num_tiles, (long long)worst_sum_diff, worst_sub7, worst_sum_rel);
    EXPECT_LE(worst_sub7, 1e-6f);
    EXPECT_LE(worst_sum_rel, 1e-6);
    ++files;
  }
  EXPECT_EQ(files, 4);
}

TEST(InternVLImageProcessor, GoldenModelCases) {
  for (const char* family : {"internvl2_5_qwen2", "internvl2_5_internlm2"}) {
    const std::string folder = std::string("../shared/golden/") + family;
    ImageProcessorSettings settings = read_image_processor_settings(folder);
    settings.pass_order = ResizePassOrder::kPillow12;  // made with Pillow 9.4
    EXPECT_EQ(settings.image_size, 56);
    EXPECT_EQ(settings.max_tiles, 4);
    EXPECT_EQ(settings.num_image_token_per_tile, 4);
    const auto processor = make_image_processor(settings);
    int cases = 0;
    for (const auto& entry : fs::directory_iterator(folder)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("case_", 0) != 0) continue;
      SCOPED_TRACE(entry.path().string());
      auto golden = testing::read_safetensors(entry.path().string());
      const auto expected = golden.at("pixel_values").values<float>();
      const auto tiles_per_sample = golden.at("num_tiles_per_sample").values<int64_t>();
      const auto image_flags = golden.at("image_flags").values<int64_t>();
      size_t offset = 0;
      const size_t tile_values = 3 * 56 * 56;
      for (size_t i = 0; i < tiles_per_sample.size(); ++i) {
        const std::string key = "image_" + std::to_string(i) + "_hwc_uint8";
        // A text-only sample carries a dummy tile (image_flags 0) made outside the processor.
        if (image_flags[offset / tile_values] == 1) {
          const ProcessedImage out = processor->process(testing::image_from_tensor(golden.at(key)));
          EXPECT_EQ(out.shape[0], tiles_per_sample[i]);
          EXPECT_EQ(out.num_image_tokens, 4 * tiles_per_sample[i]);
          ASSERT_LE(offset + out.pixel_values.size(), expected.size());
          float worst = 0;
          for (size_t k = 0; k < out.pixel_values.size(); ++k) {
            worst = std::max(worst, std::abs(out.pixel_values[k] - expected[offset + k]));
          }
          EXPECT_LE(worst, 1e-6f);
        }
        offset += tiles_per_sample[i] * tile_values;
      }
      EXPECT_EQ(offset, expected.size());
      ++cases;
    }
    EXPECT_EQ(cases, 5);
  }
}

TEST(InternVLImageProcessor, TieRulePicksLargerGridOnlyForLargeImages) {
  // 1000x1000: (1,1), (2,2), (3,3) tie exactly; area 1e6 > 0.5 * 448^2 * 9 keeps (3,3).
  EXPECT_EQ(internvl_closest_grid(1000, 1000, 448, 1, 12), std::make_pair(3L, 3L));
  // 300x300: area 9e4 is below 0.5 * 448^2 * 4, so (1,1) stays.
  EXPECT_EQ(internvl_closest_grid(300, 300, 448, 1, 12), std::make_pair(1L, 1L));
  // min_tiles removes (1,1) from the candidates.
  EXPECT_EQ(internvl_closest_grid(300, 300, 448, 2, 12), std::make_pair(2L, 2L));
}

TEST(InternVLImageProcessor, SingleTileHasNoThumbnail) {
  ImageProcessorSettings s = real_internvl_settings();
  s.image_size = 56;
  const InternVLImageProcessor processor(s);
  const ProcessedImage out = processor.process(testing::random_image(40, 40, 9));
  EXPECT_EQ(out.shape, (std::vector<int64_t>{1, 3, 56, 56}));
}

}  // namespace
}  // namespace tokenfocus::data
