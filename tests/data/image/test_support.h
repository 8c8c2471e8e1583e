// Helpers for the image tests: a scratch folder, running the reference Python with Pillow, raw
// image files exchanged with it, and a minimal reader of the golden .safetensors files.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/image.h"

namespace tokenfocus::data::testing {

// A fresh folder under /tmp, removed with everything in it when the object goes away.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Writes `script` to DIR/script.py and runs it with TOKENFOCUS_REFERENCE_PYTHON and `args`;
// returns the exit code (output goes to the test log).
int run_reference_python(const ScratchDir& dir, const std::string& script,
                         const std::string& args = "");

// Raw image exchange with Python: int64 LE width, int64 LE height, then HWC RGB bytes.
void write_raw_rgb(const std::string& path, const RgbImage& image);
RgbImage read_raw_rgb(const std::string& path);

RgbImage random_image(int64_t width, int64_t height, uint32_t seed);

// Byte comparison of two same-size images.
struct PixelDiff {
  int max_abs = 0;
  double fraction_exact = 0, fraction_within_1 = 0;
};
PixelDiff compare_pixels(const RgbImage& a, const RgbImage& b);

struct Tensor {
  std::string dtype;  // "F32", "F64", "I64", "U8"
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
  template <class T>
  std::vector<T> values() const {
    std::vector<T> out(bytes.size() / sizeof(T));
    std::copy(bytes.begin(), bytes.end(), reinterpret_cast<uint8_t*>(out.data()));
    return out;
  }
};
std::map<std::string, Tensor> read_safetensors(const std::string& path);

// The golden files store images as U8 [H, W, 3].
RgbImage image_from_tensor(const Tensor& tensor);

}  // namespace tokenfocus::data::testing
