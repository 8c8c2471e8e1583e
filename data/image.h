// Decoded images and the PNG/JPEG/WebP decoders. Pixels come out exactly as Pillow's
// `Image.open(path).convert("RGB")` gives them (see docs/formats/images.md for the rules we match),
// so that every backbone sees the same uint8 input its Python reference saw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tokenfocus::data {

// An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC).
struct RgbImage {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3 bytes

  uint8_t* row(int64_t y) { return pixels.data() + y * width * 3; }
  const uint8_t* row(int64_t y) const { return pixels.data() + y * width * 3; }
};

// Decodes a PNG, JPEG or WebP file, chosen by its first bytes (not its extension). Throws UserError
// naming the path when the file is missing, empty, truncated, corrupt or of another format.
RgbImage decode_image_file(const std::string& path);

// Same for bytes already in memory; `name` is what error messages call them.
RgbImage decode_image_bytes(const uint8_t* data, size_t size, const std::string& name);

// Writes an 8-bit RGB PNG through a temporary name in the same folder, then renames it, so that a
// reader never sees half a file. Throws UserError naming the path when it cannot be written.
void write_png(const std::string& path, const RgbImage& image);

}  // namespace tokenfocus::data
