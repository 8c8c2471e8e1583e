// PNG (libpng), JPEG (libjpeg-turbo) and WebP (libwebp) decoding to RGB as Pillow's
// `convert("RGB")` does it, and an atomic PNG writer.
//
// libpng and libjpeg report errors by longjmp. Each decoder therefore runs in a function whose
// locals are plain C data; results and messages go through a struct owned by the caller, and the
// caller turns a failure into a UserError. No C++ object lives across a setjmp.
#include "data/image.h"

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>
#include <unistd.h>
#include <webp/decode.h>

#include "common/atomic_file.h"
#include "common/error.h"

namespace tokenfocus::data {
namespace {

constexpr size_t kMessageSize = 512;

// What a decoder hands back: the image, or the library's message when it failed.
struct DecodeResult {
  RgbImage image;
  bool ok = false;
  bool truncated = false;
  bool too_large = false;  // header dimensions above kMaxPixels; width/height hold them
  char message[kMessageSize] = {0};
};

// Pillow refuses images above 2 * Image.MAX_IMAGE_PIXELS (DecompressionBombError): a few bytes of
// header must not make us allocate gigabytes.
constexpr uint64_t kMaxPixels = 2ull * (1024ull * 1024 * 1024 / 4 / 3);

bool too_large(DecodeResult* result, uint64_t width, uint64_t height) {
  result->image.width = static_cast<int64_t>(width);
  result->image.height = static_cast<int64_t>(height);
  result->too_large = width * height > kMaxPixels;
  return result->too_large;
}

void set_message(DecodeResult* result, const char* text) {
  std::snprintf(result->message, kMessageSize, "%s", text);
}

bool starts_with(const uint8_t* data, size_t size, const char* magic, size_t length) {
  return size >= length && std::memcmp(data, magic, length) == 0;
}

// ---------------------------------------------------------------------------------------------
// PNG

struct PngSource {
  const uint8_t* data;
  size_t size;
  size_t position;
  DecodeResult* result;
  std::vector<uint8_t> raw;     // decoded rows as libpng delivers them
  std::vector<png_bytep> rows;  // pointers into raw
};

void png_read_from_memory(png_structp png, png_bytep out, png_size_t length) {
  auto* source = static_cast<PngSource*>(png_get_io_ptr(png));
  if (source->size - source->position < length) {
    source->result->truncated = true;
    png_error(png, "unexpected end of file");
  }
  std::memcpy(out, source->data + source->position, length);
  source->position += length;
}

void png_error_to_result(png_structp png, png_const_charp text) {
  auto* source = static_cast<PngSource*>(png_get_error_ptr(png));
  set_message(source->result, text);
  png_longjmp(png, 1);
}

void png_ignore_warning(png_structp, png_const_charp) {}

// Pillow's modes for PNG: grey 16-bit opens as "I;16" and converts to RGB by clipping the 16-bit
// value at 255; every other 16-bit mode ("RGB;16B", "RGBA;16B", "LA;16B") keeps the high byte.
// Low bit depths are scaled (1 -> 255, 2 -> x85, 4 -> x17), palettes are looked up, alpha (from
// an alpha channel or tRNS) is dropped without compositing.
void decode_png(PngSource* source) {
  DecodeResult* result = source->result;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, source, png_error_to_result,
                                           png_ignore_warning);
  if (png == nullptr) {
    set_message(result, "cannot create a libpng reader");
    return;
  }
  png_infop info = png_create_info_struct(png);
  if (info == nullptr || setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return;
  }
  png_set_read_fn(png, source, png_read_from_memory);
  // Large images are legitimate inputs: lift libpng's default 1M-pixel width/height caps.
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
  png_read_info(png, info);
  if (too_large(result, png_get_image_width(png, info), png_get_image_height(png, info))) {
    png_longjmp(png, 1);
  }
  const int color_type = png_get_color_type(png, info);
  const bool grey16 = color_type == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) == 16;
  if (!grey16) {
    // libpng then delivers 8-bit RGB straight into our rows.
    png_set_expand(png);       // palette -> RGB, grey < 8 bits -> 8 bits, tRNS -> alpha
    png_set_strip_16(png);     // keeps the high byte, like Pillow's ";16B" raw modes
    png_set_strip_alpha(png);  // Pillow's RGBA/LA -> RGB drops alpha
    png_set_gray_to_rgb(png);
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);

  const png_uint_32 width = png_get_image_width(png, info);
  const png_uint_32 height = png_get_image_height(png, info);
  const size_t row_bytes = png_get_rowbytes(png, info);
  if (!grey16 && row_bytes != static_cast<size_t>(width) * 3) {
    set_message(result, "unexpected PNG layout after conversion to RGB");
    png_longjmp(png, 1);
  }
  // Interlaced images need every row kept until the last pass: read the whole image at once.
  // The buffers live in `source` (owned by the caller) so that a longjmp cannot leak them.
  result->image.width = width;
  result->image.height = height;
  result->image.pixels.resize(static_cast<size_t>(width) * height * 3);
  uint8_t* target = result->image.pixels.data();
  if (grey16) {
    source->raw.resize(row_bytes * height);
    target = source->raw.data();
  }
  source->rows.resize(height);
  for (png_uint_32 y = 0; y < height; ++y) source->rows[y] = target + row_bytes * y;
  png_read_image(png, source->rows.data());
  // Chunks after the image data (and a missing IEND) are not read, as Pillow does not need them.

  if (grey16) {
    // Pillow opens 16-bit grey as "I;16"; its I;16 -> RGB clips the value at 255.
    const uint8_t* in = source->raw.data();
    uint8_t* out = result->image.pixels.data();
    for (size_t i = 0; i < static_cast<size_t>(width) * height; ++i, in += 2, out += 3) {
      const int value = (in[0] << 8) | in[1];
      out[0] = out[1] = out[2] = static_cast<uint8_t>(value > 255 ? 255 : value);
    }
  }
  png_destroy_read_struct(&png, &info, nullptr);
  result->ok = true;
}

// ---------------------------------------------------------------------------------------------
// JPEG

struct JpegErrorManager {
  jpeg_error_mgr base;
  std::jmp_buf jump;
  DecodeResult* result;
};

void jpeg_error_to_result(j_common_ptr cinfo) {
  auto* manager = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  char text[JMSG_LENGTH_MAX];
  (*cinfo->err->format_message)(cinfo, text);
  set_message(manager->result, text);
  std::longjmp(manager->jump, 1);
}

// libjpeg only warns about a file that ends early (and fills the rest with grey); Pillow refuses
// such a file ("image file is truncated"), so we do too.
void jpeg_message_to_result(j_common_ptr cinfo, int level) {
  if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
    auto* manager = reinterpret_cast<JpegErrorManager*>(cinfo->err);
    manager->result->truncated = true;
    jpeg_error_to_result(cinfo);
  }
}

// Pillow's CMYK -> RGB (Convert.c cmyk2rgb) on Adobe-inverted samples ("CMYK;I" raw mode):
// with c = 255 - stored and nk = stored K, out = clip(nk - round(c * nk / 255)).
inline uint8_t cmyk_channel_to_rgb(int stored, int stored_k) {
  const int c = 255 - stored;
  const int nk = stored_k;
  const int t = c * nk + 128;
  const int v = nk - (((t >> 8) + t) >> 8);
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

void decode_jpeg(const uint8_t* data, size_t size, DecodeResult* result) {
  jpeg_decompress_struct cinfo;
  JpegErrorManager errors;
  cinfo.err = jpeg_std_error(&errors.base);
  errors.base.error_exit = jpeg_error_to_result;
  errors.base.emit_message = jpeg_message_to_result;
  errors.result = result;
  unsigned char* row = nullptr;
  if (setjmp(errors.jump)) {
    std::free(row);
    jpeg_destroy_decompress(&cinfo);
    return;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  const bool grey = cinfo.jpeg_color_space == JCS_GRAYSCALE;
  cinfo.out_color_space = cmyk ? JCS_CMYK : (grey ? JCS_GRAYSCALE : JCS_RGB);
  if (too_large(result, cinfo.image_width, cinfo.image_height)) std::longjmp(errors.jump, 1);
  jpeg_start_decompress(&cinfo);
  const int width = static_cast<int>(cinfo.output_width);
  const int height = static_cast<int>(cinfo.output_height);
  const int components = cinfo.output_components;
  result->image.width = width;
  result->image.height = height;
  result->image.pixels.resize(static_cast<size_t>(width) * height * 3);
  row = static_cast<unsigned char*>(std::malloc(static_cast<size_t>(width) * components));
  uint8_t* out = result->image.pixels.data();
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW rows[1] = {row};
    jpeg_read_scanlines(&cinfo, rows, 1);
    for (int x = 0; x < width; ++x, out += 3) {
      const unsigned char* px = row + static_cast<size_t>(x) * components;
      if (grey) {
        out[0] = out[1] = out[2] = px[0];
      } else if (cmyk) {
        out[0] = cmyk_channel_to_rgb(px[0], px[3]);
        out[1] = cmyk_channel_to_rgb(px[1], px[3]);
        out[2] = cmyk_channel_to_rgb(px[2], px[3]);
      } else {
        out[0] = px[0];
        out[1] = px[1];
        out[2] = px[2];
      }
    }
  }
  jpeg_finish_decompress(&cinfo);
  std::free(row);
  jpeg_destroy_decompress(&cinfo);
  result->ok = true;
}

// ---------------------------------------------------------------------------------------------
// WebP: libwebp decodes straight to RGB; an alpha plane is ignored (not premultiplied), which is
// what Pillow's RGBA -> RGB gives.
void decode_webp(const uint8_t* data, size_t size, DecodeResult* result) {
  WebPBitstreamFeatures features;
  const VP8StatusCode status = WebPGetFeatures(data, size, &features);
  if (status != VP8_STATUS_OK) {
    result->truncated = status == VP8_STATUS_NOT_ENOUGH_DATA;
    set_message(result, "cannot read the WebP header");
    return;
  }
  if (too_large(result, features.width, features.height)) return;
  if (features.has_animation) {
    set_message(result, "animated WebP is not supported");
    return;
  }
  result->image.width = features.width;
  result->image.height = features.height;
  result->image.pixels.resize(static_cast<size_t>(features.width) * features.height * 3);
  const int stride = features.width * 3;
  if (WebPDecodeRGBInto(data, size, result->image.pixels.data(), result->image.pixels.size(),
                        stride) == nullptr) {
    // WebPGetFeatures succeeded, so a failure here is (almost always) missing data.
    result->truncated = true;
    set_message(result, "WebP data ends early or is corrupt");
    return;
  }
  result->ok = true;
}

}  // namespace

RgbImage decode_image_bytes(const uint8_t* data, size_t size, const std::string& name) {
  if (size == 0) throw_user_error("{}: empty image file", name);
  DecodeResult result;
  const char* format = nullptr;
  if (starts_with(data, size, "\x89PNG\r\n\x1a\n", 8)) {
    format = "PNG";
    PngSource source{data, size, 0, &result, {}, {}};
    decode_png(&source);
  } else if (starts_with(data, size, "\xff\xd8\xff", 3)) {
    format = "JPEG";
    decode_jpeg(data, size, &result);
  } else if (size >= 12 && starts_with(data, size, "RIFF", 4) &&
             std::memcmp(data + 8, "WEBP", 4) == 0) {
    format = "WebP";
    decode_webp(data, size, &result);
  } else {
    throw_user_error("{}: not a PNG, JPEG or WebP image (unrecognised first bytes)", name);
  }
  if (!result.ok) {
    if (result.too_large) {
      throw_user_error(
          "{}: {} image of {}x{} pixels is above the {}-pixel limit (Pillow's "
          "decompression-bomb limit)",
          name, format, result.image.width, result.image.height, kMaxPixels);
    }
    if (result.truncated)
      throw_user_error("{}: truncated {} file ({})", name, format, result.message);
    throw_user_error("{}: corrupt {} file ({})", name, format, result.message);
  }
  if (result.image.width <= 0 || result.image.height <= 0) {
    throw_user_error("{}: {} image has no pixels", name, format);
  }
  return std::move(result.image);
}

RgbImage decode_image_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw_user_error("{}: cannot open image file ({})", path, std::strerror(errno));
  const std::streamoff size = in.tellg();
  if (size < 0) throw_user_error("{}: cannot read image file", path);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), size)) {
    throw_user_error("{}: cannot read image file", path);
  }
  return decode_image_bytes(bytes.data(), bytes.size(), path);
}

// ---------------------------------------------------------------------------------------------
// PNG writer

namespace {

struct PngWriteState {
  char message[kMessageSize] = {0};
};

void png_write_error(png_structp png, png_const_charp text) {
  auto* state = static_cast<PngWriteState*>(png_get_error_ptr(png));
  std::snprintf(state->message, kMessageSize, "%s", text);
  png_longjmp(png, 1);
}

// Returns false (with state->message set) on failure; `file` stays owned by the caller.
bool write_png_to(FILE* file, const RgbImage* image, PngWriteState* state) {
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, state, png_write_error, png_ignore_warning);
  if (png == nullptr) return false;
  png_infop info = png_create_info_struct(png);
  if (info == nullptr || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_init_io(png, file);
  png_set_IHDR(png, info, static_cast<png_uint_32>(image->width),
               static_cast<png_uint_32>(image->height), 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int64_t y = 0; y < image->height; ++y) {
    png_write_row(png, const_cast<png_bytep>(image->row(y)));
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

}  // namespace

void write_png(const std::string& path, const RgbImage& image) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != static_cast<size_t>(image.width * image.height * 3)) {
    throw_user_error("{}: cannot write a PNG of {}x{} with {} bytes of pixels", path, image.width,
                     image.height, image.pixels.size());
  }
  write_via_temporary(path, [&](const std::string& temporary) {
    FILE* file = std::fopen(temporary.c_str(), "wb");
    if (file == nullptr)
      throw_user_error("{}: cannot create ({})", temporary, std::strerror(errno));
    PngWriteState state;
    const bool written = write_png_to(file, &image, &state);
    const bool closed = std::fclose(file) == 0;
    if (!written || !closed)
      throw_user_error("{}: cannot write PNG ({})", path,
                       written ? "error while closing the file" : state.message);
  });
}

}  // namespace tokenfocus::data
