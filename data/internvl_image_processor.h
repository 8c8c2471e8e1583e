// OpenGVLab InternVL dynamic tiling (internvl_chat/internvl/train/dataset.py: dynamic_preprocess +
// build_transform(is_train=False)) for one image.
#pragma once

#include <utility>
#include <vector>

#include "data/image_processor.h"

namespace tokenfocus::data {

// find_closest_aspect_ratio over all (cols, rows) with min_tiles <= cols * rows <= max_tiles,
// sorted by cols * rows: the smallest |W/H - cols/rows| wins; on an exact tie a later candidate
// wins iff W * H > 0.5 * image_size^2 * cols * rows. Returns (cols, rows).
std::pair<int64_t, int64_t> internvl_closest_grid(int64_t width, int64_t height, int64_t image_size,
                                                  int64_t min_tiles, int64_t max_tiles);

class InternVLImageProcessor : public ImageProcessor {
 public:
  explicit InternVLImageProcessor(const ImageProcessorSettings& settings);
  // Pillow-bicubic resize to (S * cols, S * rows), row-major S x S crops, plus a bicubic S x S
  // thumbnail of the original when there is more than one tile; per tile (x / 255 - mean) / std
  // in float. Shape [tiles, 3, S, S]; num_image_tokens = tiles * num_image_token_per_tile.
  ProcessedImage process(const RgbImage& image) const override;
  // The uint8 tiles before normalisation (crops row-major, thumbnail last): what Pillow produced.
  std::vector<RgbImage> tiles(const RgbImage& image) const;

 private:
  ImageProcessorSettings settings_;
  std::array<std::array<float, 256>, 3> lookup_;
};

}  // namespace tokenfocus::data
