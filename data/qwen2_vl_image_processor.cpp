// Qwen2-VL / Qwen2.5-VL preprocessing, value for value as transformers 4.49 computes it.
#include "data/qwen2_vl_image_processor.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "data/resize.h"

namespace tokenfocus::data {

std::pair<int64_t, int64_t> qwen2_vl_smart_resize(int64_t height, int64_t width, int64_t factor,
                                                  int64_t min_pixels, int64_t max_pixels) {
  if (height < factor || width < factor) {
    throw_user_error(
        "image of {}x{} (width x height) is too small: both sides must be at least {} px", width,
        height, factor);
  }
  const double ratio = static_cast<double>(std::max(height, width)) / std::min(height, width);
  if (ratio > 200) {
    throw_user_error(
        "image of {}x{} (width x height) has an aspect ratio of {:.1f}; at most 200 is "
        "supported",
        width, height, ratio);
  }
  const double h = static_cast<double>(height), w = static_cast<double>(width);
  const double f = static_cast<double>(factor);
  // Python's round() rounds half to even, which nearbyint does in the default rounding mode.
  int64_t h_bar = static_cast<int64_t>(std::nearbyint(h / f)) * factor;
  int64_t w_bar = static_cast<int64_t>(std::nearbyint(w / f)) * factor;
  if (h_bar * w_bar > max_pixels) {
    const double beta = std::sqrt((h * w) / static_cast<double>(max_pixels));
    h_bar = static_cast<int64_t>(std::floor(h / beta / f)) * factor;
    w_bar = static_cast<int64_t>(std::floor(w / beta / f)) * factor;
  } else if (h_bar * w_bar < min_pixels) {
    const double beta = std::sqrt(static_cast<double>(min_pixels) / (h * w));
    h_bar = static_cast<int64_t>(std::ceil(h * beta / f)) * factor;
    w_bar = static_cast<int64_t>(std::ceil(w * beta / f)) * factor;
  }
  return {h_bar, w_bar};
}

Qwen2VLImageProcessor::Qwen2VLImageProcessor(const ImageProcessorSettings& settings)
    : settings_(settings) {
  // HF rescales in float64 then casts to float32, then normalises in float32.
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) {
      const float rescaled = static_cast<float>(static_cast<double>(v) * settings.rescale_factor);
      lookup_[c][v] = (rescaled - settings.mean[c]) / settings.std[c];
    }
  }
}

ProcessedImage Qwen2VLImageProcessor::process(const RgbImage& image) const {
  const int64_t patch = settings_.patch_size, merge = settings_.merge_size;
  const int64_t temporal = settings_.temporal_patch_size;
  const auto [height, width] = qwen2_vl_smart_resize(image.height, image.width, patch * merge,
                                                     settings_.min_pixels, settings_.max_pixels);
  const RgbImage resized = resize_bicubic(image, width, height, settings_.pass_order);

  const int64_t grid_h = height / patch, grid_w = width / patch;
  const int64_t row_size = 3 * temporal * patch * patch;
  ProcessedImage out;
  out.grid_thw = {1, grid_h, grid_w};
  out.shape = {grid_h * grid_w, row_size};
  out.num_image_tokens = grid_h * grid_w / (merge * merge);
  out.pixel_values.resize(static_cast<size_t>(grid_h * grid_w * row_size));

  float* dst = out.pixel_values.data();
  for (int64_t block_y = 0; block_y < grid_h / merge; ++block_y) {
    for (int64_t block_x = 0; block_x < grid_w / merge; ++block_x) {
      for (int64_t my = 0; my < merge; ++my) {
        for (int64_t mx = 0; mx < merge; ++mx) {
          const int64_t y0 = (block_y * merge + my) * patch;
          const int64_t x0 = (block_x * merge + mx) * patch;
          for (int c = 0; c < 3; ++c) {
            const std::array<float, 256>& lut = lookup_[c];
            // The image is one frame repeated `temporal` times: the same values per frame.
            float* frame0 = dst;
            for (int64_t py = 0; py < patch; ++py) {
              const uint8_t* src = resized.row(y0 + py) + x0 * 3 + c;
              for (int64_t px = 0; px < patch; ++px) *dst++ = lut[src[px * 3]];
            }
            for (int64_t t = 1; t < temporal; ++t) {
              dst = std::copy(frame0, frame0 + patch * patch, dst);
            }
          }
        }
      }
    }
  }
  return out;
}

}  // namespace tokenfocus::data
