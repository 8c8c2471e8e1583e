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

std::vector<RgbImage> InternVLImageProcessor::tiles(const RgbImage& image) const {
  const int64_t size = settings_.image_size;
  const auto [cols, rows] = internvl_closest_grid(image.width, image.height, size,
                                                  settings_.min_tiles, settings_.max_tiles);
  const RgbImage resized = resize_bicubic(image, size * cols, size * rows, settings_.pass_order);
  std::vector<RgbImage> out;
  for (int64_t k = 0; k < cols * rows; ++k) {
    const int64_t x0 = (k % cols) * size, y0 = (k / cols) * size;
    RgbImage tile;
    tile.width = tile.height = size;
    tile.pixels.resize(static_cast<size_t>(size * size * 3));
    for (int64_t y = 0; y < size; ++y) {
      std::copy_n(resized.row(y0 + y) + x0 * 3, size * 3, tile.row(y));
    }
    out.push_back(std::move(tile));
  }
  if (settings_.use_thumbnail && cols * rows != 1)
    out.push_back(resize_bicubic(image, size, size, settings_.pass_order));
  return out;
}

ProcessedImage InternVLImageProcessor::process(const RgbImage& image) const {
  const int64_t size = settings_.image_size;
  const std::vector<RgbImage> tiles = this->tiles(image);
  const int64_t count = static_cast<int64_t>(tiles.size());
  ProcessedImage out;
  out.shape = {count, 3, size, size};
  out.num_image_tokens = count * settings_.num_image_token_per_tile;
  out.pixel_values.resize(static_cast<size_t>(count * 3 * size * size));
  float* dst = out.pixel_values.data();
  for (const RgbImage& tile : tiles) {
    for (int c = 0; c < 3; ++c) {
      const std::array<float, 256>& lut = lookup_[c];
      for (size_t i = static_cast<size_t>(c); i < tile.pixels.size(); i += 3) {
        *dst++ = lut[tile.pixels[i]];
      }
    }
  }
  return out;
}

}  // namespace tokenfocus::data
