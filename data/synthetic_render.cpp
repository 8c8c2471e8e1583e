// Rasteriser of the synthetic dataset: filled shapes, 2×2 supersampled so small shapes keep their
// outline at 56 px.
#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "data/synthetic.h"

namespace tokenfocus::data {
namespace {

struct NamedColour {
  const char* name;
  uint8_t rgb[3];
};

// Far apart in RGB so a tiny vision tower separates them after normalisation.
const NamedColour kColours[] = {
    {"red", {220, 40, 40}},     {"green", {40, 180, 60}},   {"blue", {50, 80, 230}},
    {"yellow", {240, 220, 40}}, {"purple", {150, 60, 190}}, {"white", {245, 245, 245}},
};

bool inside(const std::string& shape, double dx, double dy, double r) {
  if (shape == "circle") return dx * dx + dy * dy <= r * r;
  if (shape == "square") return std::abs(dx) <= 0.85 * r && std::abs(dy) <= 0.85 * r;
  if (shape == "triangle") {  // apex up, base at dy = 0.8 r
    const double top = -r, bottom = 0.8 * r;
    if (dy < top || dy > bottom) return false;
    const double half_width = (dy - top) / (bottom - top) * r;
    return std::abs(dx) <= half_width;
  }
  throw_internal_error("unknown synthetic shape \"{}\"", shape);
}

}  // namespace

const std::vector<std::string>& synthetic_colours() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& c : kColours) v.push_back(c.name);
    return v;
  }();
  return names;
}

const std::vector<std::string>& synthetic_shapes() {
  static const std::vector<std::string> shapes{"circle", "square", "triangle"};
  return shapes;
}

void synthetic_colour_rgb(const std::string& colour, uint8_t rgb[3]) {
  for (const auto& c : kColours)
    if (colour == c.name) {
      std::copy(c.rgb, c.rgb + 3, rgb);
      return;
    }
  throw_internal_error("unknown synthetic colour \"{}\"", colour);
}

void draw_shape(RgbImage& image, const ShapeSpec& s) {
  const int64_t x0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(s.cx - s.radius - 1)));
  const int64_t x1 =
      std::min<int64_t>(image.width - 1, static_cast<int64_t>(std::ceil(s.cx + s.radius + 1)));
  const int64_t y0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(s.cy - s.radius - 1)));
  const int64_t y1 =
      std::min<int64_t>(image.height - 1, static_cast<int64_t>(std::ceil(s.cy + s.radius + 1)));
  for (int64_t y = y0; y <= y1; ++y) {
    uint8_t* row = image.row(y);
    for (int64_t x = x0; x <= x1; ++x) {
      int covered = 0;
      for (double sy : {0.25, 0.75})
        for (double sx : {0.25, 0.75})
          covered += inside(s.shape, x + sx - s.cx, y + sy - s.cy, s.radius);
      if (covered == 0) continue;
      for (int c = 0; c < 3; ++c) {
        const double blended = (row[x * 3 + c] * (4 - covered) + s.rgb[c] * covered) / 4.0;
        row[x * 3 + c] = static_cast<uint8_t>(std::lround(blended));
      }
    }
  }
}

}  // namespace tokenfocus::data
