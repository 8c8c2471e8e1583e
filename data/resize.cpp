// Pillow-exact separable resampling. The arithmetic follows Resample.c step by step, because any
// shortcut (float accumulation, other rounding, skipping the per-pass uint8 clip) changes pixels:
// - coefficients: filter((x + xmin - center + 0.5) / filterscale) in double, divided by their sum,
//   then converted to int with round-half-away-from-zero at 2^22;
// - each output sample: (2^21 + sum(in * k)) >> 22, clipped to [0, 255];
// - horizontal pass over only the rows the vertical pass reads, then the vertical pass; except
//   that Pillow 13 passes vertically first when the height shrinks by more than twice as many
//   pixels as the width does (ResizePassOrder); a pass whose size does not change is skipped (its
//   filter would be the identity anyway).
#include "data/resize.h"

#include <cmath>

#include "common/error.h"

namespace tokenfocus::data {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

double bicubic_filter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// Fixed-point weights of one pass: for output position i, inputs first[i] .. first[i]+count[i]-1
// with weights weights[i * max_taps + t].
struct PassCoefficients {
  int max_taps = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weights;
};

PassCoefficients compute_coefficients(int in_size, int out_size, double (*filter)(double),
                                      double filter_support) {
  // Pillow passes the box edges as float; for a whole-image box they are exact integers.
  const float in0 = 0.0f, in1 = static_cast<float>(in_size);
  const double scale = static_cast<double>(in1 - in0) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = filter_support * filterscale;
  PassCoefficients c;
  c.max_taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<size_t>(out_size) * c.max_taps, 0);
  std::vector<double> k(c.max_taps);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);  // truncation, as in C
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = filter((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    int32_t* out = &c.weights[static_cast<size_t>(xx) * c.max_taps];
    for (int x = 0; x < xmax; ++x) {
      const double normalised = ww != 0.0 ? k[x] / ww : k[x];
      const double scaled = normalised * (1 << kPrecisionBits);
      out[x] = static_cast<int32_t>(normalised < 0 ? -0.5 + scaled : 0.5 + scaled);
    }
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

inline uint8_t clip8(int32_t accumulated) {
  const int32_t v = accumulated >> kPrecisionBits;  // arithmetic shift, as Pillow relies on
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// Rows [row_begin, row_begin + out.height) of `in`, resampled along x into `out`.
void horizontal_pass(const RgbImage& in, int row_begin, const PassCoefficients& c, RgbImage& out) {
  constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);
  for (int64_t y = 0; y < out.height; ++y) {
    const uint8_t* src = in.row(y + row_begin);
    uint8_t* dst = out.row(y);
    for (int64_t xx = 0; xx < out.width; ++xx) {
      const int32_t* k = &c.weights[static_cast<size_t>(xx) * c.max_taps];
      const uint8_t* p = src + static_cast<size_t>(c.first[xx]) * 3;
      int32_t s0 = kHalf, s1 = kHalf, s2 = kHalf;
      for (int t = 0; t < c.count[xx]; ++t, p += 3) {
        s0 += p[0] * k[t];
        s1 += p[1] * k[t];
        s2 += p[2] * k[t];
      }
      dst[xx * 3 + 0] = clip8(s0);
      dst[xx * 3 + 1] = clip8(s1);
      dst[xx * 3 + 2] = clip8(s2);
    }
  }
}

// Resamples along y; input rows are offset by row_begin relative to the coefficients' indices.
void vertical_pass(const RgbImage& in, int row_begin, const PassCoefficients& c, RgbImage& out) {
  constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);
  const int64_t row_values = out.width * 3;
  std::vector<int32_t> sums(static_cast<size_t>(row_values));
  for (int64_t yy = 0; yy < out.height; ++yy) {
    const int32_t* k = &c.weights[static_cast<size_t>(yy) * c.max_taps];
    std::fill(sums.begin(), sums.end(), kHalf);
    // Row by row keeps the inner loop contiguous (vectorisable); integer sums are order-free.
    for (int t = 0; t < c.count[yy]; ++t) {
      const uint8_t* src = in.row(c.first[yy] - row_begin + t);
      const int32_t w = k[t];
      for (int64_t i = 0; i < row_values; ++i) sums[i] += src[i] * w;
    }
    uint8_t* dst = out.row(yy);
    for (int64_t i = 0; i < row_values; ++i) dst[i] = clip8(sums[i]);
  }
}

RgbImage blank(int64_t width, int64_t height) {
  RgbImage image;
  image.width = width;
  image.height = height;
  image.pixels.resize(static_cast<size_t>(width * height * 3));
  return image;
}

}  // namespace

RgbImage resize_image(const RgbImage& image, int64_t width, int64_t height, ResampleFilter filter,
                      ResizePassOrder order) {
  if (width < 1 || height < 1) {
    throw_user_error("cannot resize a {}x{} image to {}x{}: sizes must be at least 1", image.width,
                     image.height, width, height);
  }
  if (image.width < 1 || image.height < 1) {
    throw_user_error("cannot resize an empty {}x{} image", image.width, image.height);
  }
  if (width == image.width && height == image.height) return image;
  double (*fn)(double) = filter == ResampleFilter::kBicubic ? bicubic_filter : bilinear_filter;
  const double support = filter == ResampleFilter::kBicubic ? 2.0 : 1.0;

  const bool need_horizontal = width != image.width;
  const bool need_vertical = height != image.height;
  const PassCoefficients vertical =
      compute_coefficients(static_cast<int>(image.height), static_cast<int>(height), fn, support);

  if (!need_horizontal) {
    RgbImage out = blank(width, height);
    vertical_pass(image, 0, vertical, out);
    return out;
  }
  const PassCoefficients horizontal =
      compute_coefficients(static_cast<int>(image.width), static_cast<int>(width), fn, support);
  const int64_t height_shrink = image.height - height, width_shrink = image.width - width;
  if (order == ResizePassOrder::kPillow13 && height_shrink > 0 &&
      height_shrink > 2 * width_shrink) {
    RgbImage temporary = blank(image.width, height);
    vertical_pass(image, 0, vertical, temporary);
    RgbImage out = blank(width, height);
    horizontal_pass(temporary, 0, horizontal, out);
    return out;
  }
  // Only the input rows the vertical pass reads are resampled horizontally.
  const int first_row = need_vertical ? vertical.first.front() : 0;
  const int end_row = need_vertical ? vertical.first.back() + vertical.count.back()
                                    : static_cast<int>(image.height);
  RgbImage temporary = blank(width, end_row - first_row);
  horizontal_pass(image, first_row, horizontal, temporary);
  if (!need_vertical) return temporary;
  RgbImage out = blank(width, height);
  vertical_pass(temporary, first_row, vertical, out);
  return out;
}

}  // namespace tokenfocus::data
