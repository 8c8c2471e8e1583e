// decode_image_* against the installed Pillow's Image.open(p).convert("RGB") (.venv; its wheel
// bundles libjpeg-turbo 3 and libwebp 1.5 where we link Debian's 2.1.5 and 1.2.4, and both decode
// JPEG (islow IDCT, fancy upsampling) and WebP identically, so all are expected exact), and the
// exact messages for missing, empty, foreign, truncated and corrupt files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "common/error.h"
#include "data/image.h"
#include "tests/data/image/test_support.h"

namespace tokenfocus::data {
namespace {

using testing::ScratchDir;

// Writes one file per mode Pillow can produce, plus 16-bit colour PNGs (which Pillow cannot
// write) through a minimal PNG encoder, then Pillow's convert("RGB") of each as NAME.raw.
constexpr const char* kMakeImages = R"PY(
import struct, sys, zlib, os
import numpy as np
from PIL import Image
out = sys.argv[1]
rng = np.random.default_rng(7)
W, H = 53, 37
rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
rgb[:, :W // 2] = (np.arange(W // 2) * 4)[None, :, None].astype(np.uint8)  # smooth half for JPEG
rgba = np.dstack([rgb, rng.integers(0, 256, (H, W), dtype=np.uint8)])
grey = rgb[..., 0].copy()

def png_raw(path, arr, depth, color_type, interlace=False):
    # Minimal encoder for what Pillow cannot write: 16-bit colour and Adam7 interlacing.
    h, w = arr.shape[:2]
    dtype = '>u2' if depth == 16 else 'u1'
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
              (0, 1, 1, 2)] if interlace else [(0, 0, 1, 1)]
    raw = b''
    for x0, y0, dx, dy in passes:
        sub = arr[y0::dy, x0::dx]
        if sub.size:
            raw += b''.join(b'\0' + row.astype(dtype).tobytes() for row in sub)
    def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    ihdr = struct.pack('>IIBBBBB', w, h, depth, color_type, 0, 0, 1 if interlace else 0)
    data = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr)
    data += chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b'')
    open(path, 'wb').write(data)

def png16(path, arr, color_type): png_raw(path, arr, 16, color_type)

files = {}
files['rgb.png'] = lambda p: Image.fromarray(rgb).save(p)
files['rgba.png'] = lambda p: Image.fromarray(rgba).save(p)
files['grey.png'] = lambda p: Image.fromarray(grey).save(p)
files['grey_alpha.png'] = lambda p: Image.fromarray(rgba[..., ::3].copy()).save(p)
files['bilevel.png'] = lambda p: Image.fromarray(grey > 127).save(p)
files['palette.png'] = lambda p: Image.fromarray(rgb).quantize(200).save(p)
files['palette_4bit.png'] = lambda p: Image.fromarray(rgb).quantize(16).save(p, bits=4)
files['palette_trns.png'] = lambda p: Image.fromarray(rgb).quantize(60).save(p, transparency=bytes(range(0, 240, 4)))
files['rgb_trns.png'] = lambda p: Image.fromarray(rgb).save(p, transparency=(10, 20, 30))
grey16 = (rng.integers(0, 65536, (H, W)) // rng.integers(1, 300, (H, W))).astype(np.uint16)
grey16[0, :4] = [0, 255, 256, 65535]
files['grey16.png'] = lambda p: Image.fromarray(grey16).save(p)
rgb16 = rng.integers(0, 65536, (H, W, 3)).astype(np.uint16)
files['rgb16.png'] = lambda p: png16(p, rgb16, 2)
files['rgba16.png'] = lambda p: png16(p, rng.integers(0, 65536, (H, W, 4)).astype(np.uint16), 6)
files['grey_alpha16.png'] = lambda p: png16(p, rng.integers(0, 65536, (H, W, 2)).astype(np.uint16), 4)
files['interlaced_rgb.png'] = lambda p: png_raw(p, rgb, 8, 2, interlace=True)
files['interlaced_rgba16.png'] = lambda p: png_raw(p, rgb16[..., [0, 1, 2, 0]], 16, 6, interlace=True)
files['rgb.jpg'] = lambda p: Image.fromarray(rgb).save(p, quality=90)
files['rgb444.jpg'] = lambda p: Image.fromarray(rgb).save(p, quality=75, subsampling=0)
files['progressive.jpg'] = lambda p: Image.fromarray(rgb).save(p, progressive=True)
files['grey.jpg'] = lambda p: Image.fromarray(grey).save(p)
files['cmyk.jpg'] = lambda p: Image.fromarray(rgba).convert('RGB').convert('CMYK').save(p)
files['lossy.webp'] = lambda p: Image.fromarray(rgb).save(p, quality=80)
files['lossless_rgba.webp'] = lambda p: Image.fromarray(rgba).save(p, lossless=True)
files['jpeg_named.png'] = lambda p: Image.fromarray(rgb).save(p, format='JPEG')  # content decides
for name, make in files.items():
    path = os.path.join(out, name)
    make(path)
    im = Image.open(path).convert('RGB')
    open(path + '.raw', 'wb').write(struct.pack('<qq', *im.size) + im.tobytes())
open(os.path.join(out, 'list.txt'), 'w').write('\n'.join(files))
)PY";

class ImageDecode : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ScratchDir();
    made_ = testing::run_reference_python(*dir_, kMakeImages, dir_->path()) == 0;
  }
  // A failure here fails each test (one in SetUpTestSuite would only skip them).
  void SetUp() override {
    ASSERT_TRUE(made_) << "the reference Python (Pillow) could not make the test images";
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static ScratchDir* dir_;
  static bool made_;
};
ScratchDir* ImageDecode::dir_ = nullptr;
bool ImageDecode::made_ = false;

TEST_F(ImageDecode, EveryModeEqualsPillowConvertRgb) {
  std::ifstream list(dir_->file("list.txt"));
  std::string name;
  int checked = 0;
  while (std::getline(list, name)) {
    SCOPED_TRACE(name);
    const RgbImage ours = decode_image_file(dir_->file(name));
    const RgbImage pillow = testing::read_raw_rgb(dir_->file(name + ".raw"));
    ASSERT_EQ(ours.width, pillow.width);
    ASSERT_EQ(ours.height, pillow.height);
    const testing::PixelDiff d = testing::compare_pixels(ours, pillow);
    EXPECT_EQ(d.max_abs, 0) << "exact " << 100.0 * d.fraction_exact << "%";
    ++checked;
  }
  EXPECT_EQ(checked, 23);
}

TEST_F(ImageDecode, BytesAndFileAgree) {
  const std::string path = dir_->file("rgb.jpg");
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  EXPECT_EQ(decode_image_bytes(bytes.data(), bytes.size(), "x").pixels,
            decode_image_file(path).pixels);
}

std::string user_error_of(const std::string& path) {
  try {
    decode_image_file(path);
  } catch (const UserError& e) {
    return e.what();
  }
  return "no error";
}

void write_bytes(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The first `fraction` of a file.
std::string truncated_copy(const ScratchDir& dir, const std::string& name, double fraction) {
  std::vector<char> bytes = read_bytes(dir.file(name));
  bytes.resize(static_cast<size_t>(bytes.size() * fraction));
  const std::string path = dir.file("cut_" + name);
  write_bytes(path, bytes);
  return path;
}

TEST_F(ImageDecode, MissingEmptyAndForeignFiles) {
  const std::string missing = dir_->file("nope.png");
  EXPECT_EQ(user_error_of(missing),
            missing + ": cannot open image file (No such file or directory)");
  const std::string empty = dir_->file("empty.jpg");
  write_bytes(empty, {});
  EXPECT_EQ(user_error_of(empty), empty + ": empty image file");
  const std::string text = dir_->file("notes.png");
  write_bytes(text, {'h', 'e', 'l', 'l', 'o'});
  EXPECT_EQ(user_error_of(text),
            text + ": not a PNG, JPEG or WebP image (unrecognised first bytes)");
}

TEST_F(ImageDecode, TruncatedFiles) {
  const std::string png = truncated_copy(*dir_, "rgb.png", 0.5);
  EXPECT_EQ(user_error_of(png), png + ": truncated PNG file (unexpected end of file)");
  const std::string jpg = truncated_copy(*dir_, "rgb.jpg", 0.5);
  EXPECT_EQ(user_error_of(jpg), jpg + ": truncated JPEG file (Premature end of JPEG file)");
  const std::string webp = truncated_copy(*dir_, "lossy.webp", 0.5);
  EXPECT_EQ(user_error_of(webp),
            webp + ": truncated WebP file (WebP data ends early or is corrupt)");
  const std::string header_only = truncated_copy(*dir_, "rgb.png", 0.02);
  EXPECT_EQ(user_error_of(header_only),
            header_only + ": truncated PNG file (unexpected end of file)");
}

// CRC-32 as PNG uses it, to forge a header.
uint32_t png_crc(const std::string& bytes) {
  uint32_t crc = 0xffffffffu;
  for (unsigned char byte : bytes) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

std::string big_endian(uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

TEST_F(ImageDecode, DecompressionBombIsRefusedBeforeAllocating) {
  // A valid 20000 x 10000 RGB header (200M pixels, above Pillow's 178956970) and an empty IDAT.
  const std::string ihdr =
      "IHDR" + big_endian(20000) + big_endian(10000) + std::string("\x08\x02\0\0\0", 5);
  const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + big_endian(13) + ihdr +
                          big_endian(png_crc(ihdr)) + big_endian(0) + "IDAT" +
                          big_endian(png_crc("IDAT"));
  const std::string path = dir_->file("bomb.png");
  write_bytes(path, std::vector<char>(png.begin(), png.end()));
  EXPECT_EQ(user_error_of(path),
            path +
                ": PNG image of 20000x10000 pixels is above the 178956970-pixel limit (Pillow's "
                "decompression-bomb limit)");
}

TEST_F(ImageDecode, CorruptFiles) {
  // A flipped byte inside the PNG image data: zlib's check fails before the chunk CRC is read.
  std::vector<char> png = read_bytes(dir_->file("rgb.png"));
  png[png.size() / 2] ^= 0x55;
  const std::string bad_png = dir_->file("bad_crc.png");
  write_bytes(bad_png, png);
  EXPECT_EQ(user_error_of(bad_png), bad_png + ": corrupt PNG file (IDAT: incorrect data check)");
  // A JPEG whose header is garbage after the SOI marker.
  std::vector<char> jpg = read_bytes(dir_->file("rgb.jpg"));
  for (size_t i = 3; i < 40; ++i) jpg[i] = 0;
  const std::string bad_jpg = dir_->file("bad_header.jpg");
  write_bytes(bad_jpg, jpg);
  const std::string message = user_error_of(bad_jpg);
  EXPECT_EQ(message.rfind(bad_jpg + ": corrupt JPEG file (", 0), 0u) << message;
}

// Damaged files of every format either decode or raise UserError naming the file: never a crash,
// a hang or another exception type.
TEST_F(ImageDecode, DamagedFilesNeverCrash) {
  std::mt19937 rng(11);
  for (const char* name : {"rgb.png", "interlaced_rgb.png", "palette_trns.png", "rgb.jpg",
                           "progressive.jpg", "cmyk.jpg", "lossy.webp", "lossless_rgba.webp"}) {
    const std::vector<char> original = read_bytes(dir_->file(name));
    for (int trial = 0; trial < 40; ++trial) {
      std::vector<char> bytes = original;
      if (trial % 2 == 0) {
        bytes.resize(std::uniform_int_distribution<size_t>(1, bytes.size() - 1)(rng));
      } else {
        for (int k = 0; k < 4; ++k) {
          bytes[std::uniform_int_distribution<size_t>(0, bytes.size() - 1)(rng)] ^=
              static_cast<char>(1 + rng() % 255);
        }
      }
      const std::string label = std::string(name) + " trial " + std::to_string(trial);
      try {
        const RgbImage image =
            decode_image_bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), label);
        EXPECT_EQ(image.pixels.size(), static_cast<size_t>(image.width * image.height * 3));
      } catch (const UserError& e) {
        EXPECT_EQ(std::string(e.what()).rfind(label + ": ", 0), 0u) << e.what();
      }
    }
  }
}

TEST_F(ImageDecode, WritePngRoundTripsThroughPillow) {
  const RgbImage image = testing::random_image(45, 29, 3);
  const std::string path = dir_->file("ours.png");
  write_png(path, image);
  EXPECT_EQ(decode_image_file(path).pixels, image.pixels);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp." + std::to_string(::getpid())));
  // Pillow reads it back identically.
  ScratchDir py;
  const std::string script =
      "import struct,sys\nfrom PIL import Image\nim=Image.open(sys.argv[1]).convert('RGB')\n"
      "open(sys.argv[2],'wb').write(struct.pack('<qq',*im.size)+im.tobytes())\n";
  ASSERT_EQ(testing::run_reference_python(py, script, path + " " + py.file("back.raw")), 0);
  EXPECT_EQ(testing::read_raw_rgb(py.file("back.raw")).pixels, image.pixels);
}

TEST_F(ImageDecode, WritePngCreatesFoldersAndNamesThePathWhenItCannot) {
  const RgbImage image = testing::random_image(4, 4, 3);
  const std::string nested = dir_->file("new/folder/x.png");
  write_png(nested, image);
  EXPECT_EQ(decode_image_file(nested).pixels, image.pixels);
  // A regular file where a folder should be: the error names the path.
  const std::string blocked = dir_->file("ours.txt/x.png");
  std::ofstream(dir_->file("ours.txt")) << "a file";
  try {
    write_png(blocked, image);
    FAIL() << "expected a UserError";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(blocked), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tokenfocus::data
