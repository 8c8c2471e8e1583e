// Hugging Face Qwen2VLImageProcessor (transformers 4.49; also used by Qwen2.5-VL) for one image.
#pragma once

#include <utility>

#include "data/image_processor.h"

namespace tokenfocus::data {

// smart_resize: the (height, width) the image is resized to — multiples of `factor`
// (patch_size * merge_size) whose product lies in [min_pixels, max_pixels], keeping the aspect
// ratio. Python's round (half to even) as HF uses it. UserError for a side below `factor` or an
// aspect ratio above 200, the two cases HF rejects.
std::pair<int64_t, int64_t> qwen2_vl_smart_resize(int64_t height, int64_t width, int64_t factor,
                                                  int64_t min_pixels, int64_t max_pixels);

class Qwen2VLImageProcessor : public ImageProcessor {
 public:
  explicit Qwen2VLImageProcessor(const ImageProcessorSettings& settings);
  // smart_resize + Pillow bicubic, x * rescale_factor (in double, then float), (x - mean) / std in
  // float, the frame repeated temporal_patch_size times, patches in HF order:
  // rows (t, h / merge, w / merge, merge, merge), columns (channel, temporal, patch_y, patch_x).
  ProcessedImage process(const RgbImage& image) const override;

 private:
  ImageProcessorSettings settings_;
  std::array<std::array<float, 256>, 3> lookup_;  // normalised value of each uint8 per channel
};

}  // namespace tokenfocus::data
