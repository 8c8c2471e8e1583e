#include "tests/data/image/test_support.h"

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace tokenfocus::data::testing {

ScratchDir::ScratchDir() {
  std::string pattern =
      (std::filesystem::temp_directory_path() / "tokenfocus-image-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

int run_reference_python(const ScratchDir& dir, const std::string& script,
                         const std::string& args) {
  const std::string script_path = dir.file("script.py");
  std::ofstream(script_path) << script;
  const std::string command =
      std::string(TOKENFOCUS_REFERENCE_PYTHON) + " " + script_path + " " + args;
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void write_raw_rgb(const std::string& path, const RgbImage& image) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&image.width), 8);
  out.write(reinterpret_cast<const char*>(&image.height), 8);
  out.write(reinterpret_cast<const char*>(image.pixels.data()),
            static_cast<std::streamsize>(image.pixels.size()));
}

RgbImage read_raw_rgb(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  RgbImage image;
  in.read(reinterpret_cast<char*>(&image.width), 8);
  in.read(reinterpret_cast<char*>(&image.height), 8);
  image.pixels.resize(static_cast<size_t>(image.width * image.height * 3));
  in.read(reinterpret_cast<char*>(image.pixels.data()),
          static_cast<std::streamsize>(image.pixels.size()));
  if (!in) throw std::runtime_error("short raw image " + path);
  return image;
}

RgbImage random_image(int64_t width, int64_t height, uint32_t seed) {
  // Smooth gradients plus noise plus hard edges: exercises both ringing (clipping) and averaging.
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(-40, 40);
  RgbImage image;
  image.width = width;
  image.height = height;
  image.pixels.resize(static_cast<size_t>(width * height * 3));
  for (int64_t y = 0; y < height; ++y) {
    for (int64_t x = 0; x < width; ++x) {
      for (int c = 0; c < 3; ++c) {
        int v = static_cast<int>((x * (c + 1) * 255) / std::max<int64_t>(width, 1) +
                                 (y * 255) / std::max<int64_t>(height, 1)) %
                256;
        if (((x / 7) + (y / 5) + c) % 3 == 0) v = (c == 1) ? 0 : 255;  // hard edges
        v += noise(rng);
        image.row(y)[x * 3 + c] = static_cast<uint8_t>(std::clamp(v, 0, 255));
      }
    }
  }
  return image;
}

PixelDiff compare_pixels(const RgbImage& a, const RgbImage& b) {
  PixelDiff d;
  if (a.pixels.size() != b.pixels.size() || a.pixels.empty()) {
    d.max_abs = 256;
    return d;
  }
  size_t exact = 0, within = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    const int diff = std::abs(int(a.pixels[i]) - int(b.pixels[i]));
    d.max_abs = std::max(d.max_abs, diff);
    exact += diff == 0;
    within += diff <= 1;
  }
  d.fraction_exact = double(exact) / a.pixels.size();
  d.fraction_within_1 = double(within) / a.pixels.size();
  return d;
}

std::map<std::string, Tensor> read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  uint64_t header_size = 0;
  in.read(reinterpret_cast<char*>(&header_size), 8);
  std::string header(header_size, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_size));
  const auto json = nlohmann::json::parse(header);
  std::vector<char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::map<std::string, Tensor> tensors;
  for (const auto& [name, entry] : json.items()) {
    if (name == "__metadata__") continue;
    Tensor t;
    t.dtype = entry.at("dtype").get<std::string>();
    t.shape = entry.at("shape").get<std::vector<int64_t>>();
    const auto offsets = entry.at("data_offsets").get<std::vector<size_t>>();
    t.bytes.assign(data.begin() + offsets[0], data.begin() + offsets[1]);
    tensors.emplace(name, std::move(t));
  }
  return tensors;
}

RgbImage image_from_tensor(const Tensor& tensor) {
  RgbImage image;
  image.height = tensor.shape.at(0);
  image.width = tensor.shape.at(1);
  image.pixels = tensor.bytes;
  return image;
}

}  // namespace tokenfocus::data::testing
