// resize_image against the installed Pillow's Image.resize on the same uint8 input, sizes up and
// down. Target: bit-exact (max abs diff 0); the issue's floor is >= 99% of values within 1/255.
#include <gtest/gtest.h>

#include <fstream>
#include <tuple>

#include "common/error.h"
#include "data/resize.h"
#include "tests/data/image/test_support.h"

namespace tokenfocus::data {
namespace {

using testing::ScratchDir;

constexpr const char* kPillowResize = R"PY(
import struct, sys
from PIL import Image
def read(p):
    b = open(p, 'rb').read(); w, h = struct.unpack('<qq', b[:16])
    return Image.frombytes('RGB', (w, h), b[16:])
for line in open(sys.argv[1]):
    src, dst, w, h, f = line.split()
    im = read(src).resize((int(w), int(h)), {'bicubic': Image.BICUBIC, 'bilinear': Image.BILINEAR}[f])
    open(dst, 'wb').write(struct.pack('<qq', *im.size) + im.tobytes())
)PY";

struct ResizeCase {
  int64_t in_w, in_h, out_w, out_h;
};

// Up, down, both at once, one axis only, extreme factors, and degenerate 1-pixel sizes.
const std::vector<ResizeCase> kCases = {
    {97, 61, 448, 448},    {640, 480, 504, 364}, {1000, 1000, 448, 448}, {123, 77, 1344, 896},
    {300, 900, 448, 1344}, {1024, 1024, 28, 28}, {50, 200, 200, 50},     {64, 64, 64, 32},
    {64, 64, 33, 64},      {1, 1, 5, 3},         {3, 2, 1, 1},           {777, 333, 776, 334},
};

void check_against_pillow(ResampleFilter filter, const char* name) {
  ScratchDir dir;
  std::ofstream list(dir.file("list.txt"));
  std::vector<RgbImage> ours;
  for (size_t i = 0; i < kCases.size(); ++i) {
    const auto& c = kCases[i];
    const RgbImage input = testing::random_image(c.in_w, c.in_h, static_cast<uint32_t>(i + 1));
    const std::string in_path = dir.file("in" + std::to_string(i) + ".raw");
    testing::write_raw_rgb(in_path, input);
    list << in_path << ' ' << dir.file("out" + std::to_string(i) + ".raw") << ' ' << c.out_w << ' '
         << c.out_h << ' ' << name << '\n';
    ours.push_back(resize_image(input, c.out_w, c.out_h, filter));
  }
  list.close();
  ASSERT_EQ(testing::run_reference_python(dir, kPillowResize, dir.file("list.txt")), 0);
  for (size_t i = 0; i < kCases.size(); ++i) {
    const auto& c = kCases[i];
    const RgbImage pillow = testing::read_raw_rgb(dir.file("out" + std::to_string(i) + ".raw"));
    ASSERT_EQ(ours[i].width, pillow.width);
    ASSERT_EQ(ours[i].height, pillow.height);
    const testing::PixelDiff d = testing::compare_pixels(ours[i], pillow);
    std::printf("%s %lldx%lld -> %lldx%lld: max abs diff %d, exact %.4f%%\n", name,
                (long long)c.in_w, (long long)c.in_h, (long long)c.out_w, (long long)c.out_h,
                d.max_abs, 100.0 * d.fraction_exact);
    EXPECT_EQ(d.max_abs, 0) << name << " case " << i;
    EXPECT_GE(d.fraction_within_1, 0.99) << name << " case " << i;
  }
}

TEST(ImageResize, BicubicEqualsPillow) {
  check_against_pillow(ResampleFilter::kBicubic, "bicubic");
}

TEST(ImageResize, BilinearEqualsPillow) {
  check_against_pillow(ResampleFilter::kBilinear, "bilinear");
}

TEST(ImageResize, SameSizeIsACopy) {
  const RgbImage input = testing::random_image(31, 17, 5);
  const RgbImage out = resize_bicubic(input, 31, 17);
  EXPECT_EQ(out.pixels, input.pixels);
}

TEST(ImageResize, ConstantImageStaysConstant) {
  // Normalised coefficients sum to 1 in fixed point up to rounding: a flat image must stay flat.
  RgbImage input;
  input.width = 211;
  input.height = 97;
  input.pixels.assign(211 * 97 * 3, 200);
  for (auto [w, h] : {std::pair{448, 448}, std::pair{13, 7}, std::pair{1000, 3}}) {
    const RgbImage out = resize_bicubic(input, w, h);
    for (uint8_t v : out.pixels) ASSERT_EQ(v, 200);
  }
}

TEST(ImageResize, RejectsEmptySizes) {
  const RgbImage input = testing::random_image(4, 4, 1);
  try {
    resize_bicubic(input, 0, 5);
    FAIL() << "expected a UserError";
  } catch (const UserError& e) {
    EXPECT_STREQ(e.what(), "cannot resize a 4x4 image to 0x5: sizes must be at least 1");
  }
}

}  // namespace
}  // namespace tokenfocus::data
