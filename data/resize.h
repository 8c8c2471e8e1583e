// Resampling equal to Pillow's `Image.resize((w, h), resample)` for 8-bit RGB images (Pillow 9.4,
// src/libImaging/Resample.c): separable convolution, horizontal pass first, filter support widened
// by the downscale factor (antialiasing), coefficients normalised then rounded to 22-bit fixed
// point, results rounded and clipped per pass. The outputs are bit-identical to Pillow's.
#pragma once

#include <cstdint>

#include "data/image.h"

namespace tokenfocus::data {

enum class ResampleFilter {
  kBilinear,  // PIL.Image.BILINEAR (triangle, support 1)
  kBicubic,   // PIL.Image.BICUBIC (Keys cubic with a = -0.5, support 2)
};

// Resizes to width x height (both >= 1). Same size returns a copy, as Pillow does.
RgbImage resize_image(const RgbImage& image, int64_t width, int64_t height, ResampleFilter filter);

inline RgbImage resize_bicubic(const RgbImage& image, int64_t width, int64_t height) {
  return resize_image(image, width, height, ResampleFilter::kBicubic);
}
inline RgbImage resize_bilinear(const RgbImage& image, int64_t width, int64_t height) {
  return resize_image(image, width, height, ResampleFilter::kBilinear);
}

}  // namespace tokenfocus::data
