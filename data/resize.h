// Resampling equal to Pillow's `Image.resize((w, h), resample)` for 8-bit RGB images
// (src/libImaging/Resample.c): separable convolution, filter support widened by the downscale
// factor (antialiasing), coefficients normalised then rounded to 22-bit fixed point, results
// rounded and clipped per pass. The outputs are bit-identical to Pillow's. Pillow 13 changed which
// pass runs first for some sizes (ResizePassOrder), which moves pixels by a few levels there.
#pragma once

#include <cstdint>

#include "data/image.h"

namespace tokenfocus::data {

enum class ResampleFilter {
  kBilinear,  // PIL.Image.BILINEAR (triangle, support 1)
  kBicubic,   // PIL.Image.BICUBIC (Keys cubic with a = -0.5, support 2)
};

enum class ResizePassOrder {
  kPillow13,  // vertical first when the height shrinks by more than twice as many pixels as the
              // width (Pillow >= 13, what a fresh `pip install transformers` runs); else horizontal
  kPillow12,  // always horizontal first (Pillow <= 12; the golden files were made with 9.4)
};

// Resizes to width x height (both >= 1). Same size returns a copy, as Pillow does.
RgbImage resize_image(const RgbImage& image, int64_t width, int64_t height, ResampleFilter filter,
                      ResizePassOrder order = ResizePassOrder::kPillow13);

inline RgbImage resize_bicubic(const RgbImage& image, int64_t width, int64_t height,
                               ResizePassOrder order = ResizePassOrder::kPillow13) {
  return resize_image(image, width, height, ResampleFilter::kBicubic, order);
}
inline RgbImage resize_bilinear(const RgbImage& image, int64_t width, int64_t height) {
  return resize_image(image, width, height, ResampleFilter::kBilinear);
}

}  // namespace tokenfocus::data
