// read_image_processor_settings / make_image_processor: the golden model folders and the errors.
#include <gtest/gtest.h>

#include <fstream>

#include "common/error.h"
#include "data/image_processor.h"
#include "tests/data/image/test_support.h"

namespace tokenfocus::data {
namespace {

std::string error_of(const std::string& dir) {
  try {
    read_image_processor_settings(dir);
  } catch (const UserError& e) {
    return e.what();
  }
  return "no error";
}

TEST(ImageProcessorSettings, QwenFolderUsesPreprocessorConfig) {
  const ImageProcessorSettings s = read_image_processor_settings("../shared/golden/qwen2_5_vl");
  EXPECT_EQ(s.model_type, "qwen2_5_vl");
  EXPECT_EQ(s.min_pixels, 3136);
  EXPECT_EQ(s.max_pixels, 1003520);
  EXPECT_EQ(s.patch_size, 14);
  EXPECT_FLOAT_EQ(s.mean[0], 0.48145466f);
  EXPECT_FLOAT_EQ(s.std[2], 0.27577711f);
}

TEST(ImageProcessorSettings, InternVLFolderUsesConfig) {
  const ImageProcessorSettings s =
      read_image_processor_settings("../shared/golden/internvl2_5_qwen2");
  EXPECT_EQ(s.model_type, "internvl_chat");
  EXPECT_EQ(s.image_size, 56);
  EXPECT_EQ(s.min_tiles, 1);
  EXPECT_EQ(s.max_tiles, 4);
  EXPECT_TRUE(s.use_thumbnail);
  EXPECT_EQ(s.num_image_token_per_tile, 4);
  EXPECT_FLOAT_EQ(s.mean[0], 0.485f);
}

TEST(ImageProcessorSettings, Errors) {
  testing::ScratchDir dir;
  EXPECT_EQ(error_of(dir.file("absent")), dir.file("absent") + ": model folder not found");
  EXPECT_EQ(error_of(dir.path()),
            dir.path() + ": neither config.json nor preprocessor_config.json found");
  std::ofstream(dir.file("config.json")) << "{\"model_type\": \"llava\"}";
  EXPECT_EQ(error_of(dir.path()),
            dir.file("config.json") +
                ": model_type 'llava' has no image processor (supported: qwen2_vl, qwen2_5_vl, "
                "internvl_chat)");
  std::ofstream(dir.file("config.json")) << "{\"model_type\": \"qwen2_vl\"}";
  std::ofstream(dir.file("preprocessor_config.json")) << "{\"max_pixels\": \"many\"}";
  EXPECT_EQ(error_of(dir.path()), dir.file("preprocessor_config.json") +
                                      ": key 'max_pixels' has the wrong type (\"many\")");
  std::ofstream(dir.file("preprocessor_config.json")) << "{\"image_mean\": [0.5, 0.5]}";
  EXPECT_EQ(error_of(dir.path()), dir.file("preprocessor_config.json") +
                                      ": key 'image_mean' must list 3 values, got [0.5,0.5]");
  std::ofstream(dir.file("preprocessor_config.json")) << "{\"patch_size\": 14,";
  EXPECT_EQ(
      error_of(dir.path()).rfind(dir.file("preprocessor_config.json") + ": invalid JSON (", 0), 0u);
}

TEST(ImageProcessorSettings, FactoryRejectsBadSettings) {
  ImageProcessorSettings s;
  s.model_type = "qwen2_vl";
  s.max_pixels = 10;
  try {
    make_image_processor(s);
    FAIL();
  } catch (const UserError& e) {
    EXPECT_STREQ(e.what(), "image processor: need 0 < min_pixels <= max_pixels, got 3136 and 10");
  }
  s.model_type = "blip";
  try {
    make_image_processor(s);
    FAIL();
  } catch (const UserError& e) {
    EXPECT_STREQ(e.what(),
                 "image processor: unknown model_type 'blip' (supported: qwen2_vl, "
                 "qwen2_5_vl, internvl_chat)");
  }
}

}  // namespace
}  // namespace tokenfocus::data
