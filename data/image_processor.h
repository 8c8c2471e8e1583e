// Backbone image processors: turn a decoded RgbImage into the pixel tensor a vision tower eats,
// exactly as the backbone's Python preprocessing does (Hugging Face Qwen2VLImageProcessor,
// OpenGVLab InternVL dynamic tiling). Torch-free: values are a flat float buffer plus its shape.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/image.h"
#include "data/resize.h"

namespace tokenfocus::data {

struct ProcessedImage {
  std::vector<float> pixel_values;  // row-major over `shape`
  // Qwen family: [patches, 3 * temporal_patch_size * patch_size^2]; InternVL: [tiles, 3, S, S].
  std::vector<int64_t> shape;
  std::array<int64_t, 3> grid_thw{0, 0, 0};  // Qwen family: (t, h, w) in patches; else zeros
  int64_t num_image_tokens = 0;              // tokens the chat template inserts for this image
};

class ImageProcessor {
 public:
  virtual ~ImageProcessor() = default;
  // Throws UserError when the image cannot be processed (e.g. too small or too elongated).
  // const and stateless: one processor can be shared by all loader threads.
  virtual ProcessedImage process(const RgbImage& image) const = 0;
};

// Everything a processor needs, read from a Hugging Face model folder. Fields a family does not
// use keep their defaults.
struct ImageProcessorSettings {
  std::string model_type;  // "qwen2_vl", "qwen2_5_vl" or "internvl_chat"
  // Qwen family (Qwen2VLImageProcessor; defaults are its class defaults).
  int64_t min_pixels = 56 * 56;
  int64_t max_pixels = 28 * 28 * 1280;
  int64_t patch_size = 14;
  int64_t merge_size = 2;
  int64_t temporal_patch_size = 2;
  double rescale_factor = 1.0 / 255.0;
  std::array<float, 3> mean{0.48145466f, 0.4578275f, 0.40821073f};  // OpenAI CLIP
  std::array<float, 3> std{0.26862954f, 0.26130258f, 0.27577711f};
  // InternVL (dynamic tiling; ImageNet mean/std are set by the reader for this family).
  int64_t image_size = 448;  // tile side
  int64_t min_tiles = 1, max_tiles = 12;
  bool use_thumbnail = true;
  int64_t num_image_token_per_tile = 256;
  // Which Pillow's resize pass order to reproduce (data/resize.h): the current one by default.
  ResizePassOrder pass_order = ResizePassOrder::kPillow13;
};

// Reads MODEL_DIR/config.json (model_type; InternVL's tiling keys) and, for the Qwen family,
// MODEL_DIR/preprocessor_config.json. Absent keys take the Hugging Face / InternVL class defaults.
// Throws UserError naming the file and key on a missing folder, bad JSON or a wrong value.
ImageProcessorSettings read_image_processor_settings(const std::string& model_dir);

// The processor for settings.model_type; UserError for an unknown type or inconsistent settings.
std::unique_ptr<ImageProcessor> make_image_processor(const ImageProcessorSettings& settings);

}  // namespace tokenfocus::data
