// InternVL2.5 dynamic tiling, as OpenGVLab's dataset.py + torchvision transforms compute it.
#include "data/internvl_image_processor.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/error.h"
#include "data/resize.h"

namespace tokenfocus::data {

std::pair<int64_t, int64_t> internvl_closest_grid(int64_t width, int64_t height, int64_t image_size,
                                                  int64_t min_tiles, int64_t max_tiles) {
  // Candidates ordered by tile count. Python builds them as a set and sorts by i * j (stable);
  // within one tile count we order by cols. The order inside a count only matters on an exact
  // tie between two grids of the same count, which no image short of an exact midpoint hits.
  std::vector<std::pair<int64_t, int64_t>> grids;
  for (int64_t i = 1; i <= max_tiles; ++i) {
    for (int64_t j = 1; j <= max_tiles; ++j) {
      if (i * j >= min_tiles && i * j <= max_tiles) grids.emplace_back(i, j);
    }
  }
  std::stable_sort(grids.begin(), grids.end(), [](const auto& a, const auto& b) {
    return a.first * a.second < b.first * b.second;
  });
  const double aspect = static_cast<double>(width) / static_cast<double>(height);
  const double area = static_cast<double>(width) * static_cast<double>(height);
  double best_diff = std::numeric_limits<double>::infinity();
  std::pair<int64_t, int64_t> best{1, 1};
  for (const auto& [cols, rows] : grids) {
    const double diff = std::abs(aspect - static_cast<double>(cols) / static_cast<double>(rows));
    if (diff < best_diff) {
      best_diff = diff;
      best = {cols, rows};
    } else if (diff == best_diff &&
               area > 0.5 * static_cast<double>(image_size) * static_cast<double>(image_size) *
                          static_cast<double>(cols) * static_cast<double>(rows)) {
      best = {cols, rows};
    }
  }
  return best;
}

InternVLImageProcessor::InternVLImageProcessor(const ImageProcessorSettings& settings)
    : settings_(settings) {
  // torchvision: ToTensor divides in float32, Normalize subtracts and divides in float32.
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) {
      lookup_[c][v] = (static_cast<float>(v) / 255.0f - settings.mean[c]) / settings.std[c];
    }
  }
}

ProcessedImage InternVLImageProcessor::process(const RgbImage& image) const {
  const int64_t size = settings_.image_size;
  const auto [cols, rows] = internvl_closest_grid(image.width, image.height, size,
                                                  settings_.min_tiles, settings_.max_tiles);
  const RgbImage resized = resize_bicubic(image, size * cols, size * rows);
  const bool thumbnail = settings_.use_thumbnail && cols * rows != 1;
  RgbImage thumb;
  if (thumbnail) thumb = resize_bicubic(image, size, size);
  const int64_t tiles = cols * rows + (thumbnail ? 1 : 0);

  ProcessedImage out;
  out.shape = {tiles, 3, size, size};
  out.num_image_tokens = tiles * settings_.num_image_token_per_tile;
  out.pixel_values.resize(static_cast<size_t>(tiles * 3 * size * size));
  // Writes the S x S block at (x0, y0) of `source` as tile `tile`, channels first.
  auto write_tile = [&](const RgbImage& source, int64_t x0, int64_t y0, int64_t tile) {
    for (int c = 0; c < 3; ++c) {
      const std::array<float, 256>& lut = lookup_[c];
      float* dst = out.pixel_values.data() + (tile * 3 + c) * size * size;
      for (int64_t y = 0; y < size; ++y) {
        const uint8_t* src = source.row(y0 + y) + x0 * 3 + c;
        for (int64_t x = 0; x < size; ++x) *dst++ = lut[src[x * 3]];
      }
    }
  };
  for (int64_t k = 0; k < cols * rows; ++k)
    write_tile(resized, (k % cols) * size, (k / cols) * size, k);
  if (thumbnail) write_tile(thumb, 0, 0, tiles - 1);
  return out;
}

}  // namespace tokenfocus::data
