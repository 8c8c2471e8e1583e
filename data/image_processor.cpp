// Reading image-processor settings from a Hugging Face model folder, and the processor factory.
#include "data/image_processor.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "data/internvl_image_processor.h"
#include "data/qwen2_vl_image_processor.h"

namespace tokenfocus::data {
namespace {

using nlohmann::json;

bool is_qwen_family(const std::string& type) {
  return type == "qwen2_vl" || type == "qwen2_5_vl";
}
bool is_internvl(const std::string& type) {
  return type == "internvl_chat";
}

json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw_user_error("{}: cannot open", path.string());
  try {
    return json::parse(in);
  } catch (const json::parse_error& e) {
    throw_user_error("{}: invalid JSON ({})", path.string(), e.what());
  }
}

// Typed access to an optional key: absent or null keeps `value`; a wrong type names file and key.
template <class T>
void read_key(const json& object, const char* key, T& value, const std::filesystem::path& file,
              const std::string& prefix = "") {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return;
  try {
    value = it->get<T>();
  } catch (const json::exception&) {
    throw_user_error("{}: key '{}{}' has the wrong type ({})", file.string(), prefix, key,
                     it->dump());
  }
}

void read_mean_std(const json& object, ImageProcessorSettings& s,
                   const std::filesystem::path& file) {
  for (const char* key : {"image_mean", "image_std"}) {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) continue;
    std::vector<float> values;
    read_key(object, key, values, file);
    if (values.size() != 3) {
      throw_user_error("{}: key '{}' must list 3 values, got {}", file.string(), key, it->dump());
    }
    std::array<float, 3>& target = std::string(key) == "image_mean" ? s.mean : s.std;
    for (int c = 0; c < 3; ++c) target[c] = values[c];
  }
}

void read_qwen_preprocessor(const std::filesystem::path& file, ImageProcessorSettings& s) {
  const json pre = read_json(file);
  // transformers 4.49: min_pixels/max_pixels win over size.{shortest,longest}_edge.
  if (auto size = pre.find("size"); size != pre.end() && size->is_object()) {
    read_key(*size, "shortest_edge", s.min_pixels, file, "size.");
    read_key(*size, "longest_edge", s.max_pixels, file, "size.");
  }
  read_key(pre, "min_pixels", s.min_pixels, file);
  read_key(pre, "max_pixels", s.max_pixels, file);
  read_key(pre, "patch_size", s.patch_size, file);
  read_key(pre, "merge_size", s.merge_size, file);
  read_key(pre, "temporal_patch_size", s.temporal_patch_size, file);
  read_key(pre, "rescale_factor", s.rescale_factor, file);
  read_mean_std(pre, s, file);
}

// InternVLChatConfig keys (class defaults: force_image_size None -> vision image_size 448 in the
// released models, downsample_ratio 0.5, min/max_dynamic_patch 1/6, use_thumbnail false).
void read_internvl_config(const json& config, const std::filesystem::path& file,
                          ImageProcessorSettings& s) {
  s.mean = {0.485f, 0.456f, 0.406f};  // ImageNet, as build_transform uses
  s.std = {0.229f, 0.224f, 0.225f};
  s.image_size = 448;
  s.min_tiles = 1;
  s.max_tiles = 6;
  s.use_thumbnail = false;
  double downsample_ratio = 0.5;
  bool dynamic = true;
  if (auto vision = config.find("vision_config"); vision != config.end() && vision->is_object()) {
    read_key(*vision, "image_size", s.image_size, file, "vision_config.");
    read_key(*vision, "patch_size", s.patch_size, file, "vision_config.");
  }
  read_key(config, "force_image_size", s.image_size, file);
  read_key(config, "downsample_ratio", downsample_ratio, file);
  read_key(config, "min_dynamic_patch", s.min_tiles, file);
  read_key(config, "max_dynamic_patch", s.max_tiles, file);
  read_key(config, "use_thumbnail", s.use_thumbnail, file);
  read_key(config, "dynamic_image_size", dynamic, file);
  if (!dynamic) s.min_tiles = s.max_tiles = 1;  // one S x S tile, no thumbnail
  if (s.patch_size <= 0 || s.image_size % s.patch_size != 0) {
    throw_user_error("{}: image size {} is not a multiple of vision_config.patch_size {}",
                     file.string(), s.image_size, s.patch_size);
  }
  // InternVLChatModel: int((image_size // patch_size) ** 2 * (downsample_ratio ** 2)).
  const double side = static_cast<double>(s.image_size / s.patch_size);
  s.num_image_token_per_tile =
      static_cast<int64_t>(side * side * (downsample_ratio * downsample_ratio));
}

}  // namespace

ImageProcessorSettings read_image_processor_settings(const std::string& model_dir) {
  const std::filesystem::path dir(model_dir);
  if (!std::filesystem::is_directory(dir)) {
    throw_user_error("{}: model folder not found", model_dir);
  }
  const std::filesystem::path config_file = dir / "config.json";
  const std::filesystem::path preprocessor_file = dir / "preprocessor_config.json";
  const bool has_config = std::filesystem::exists(config_file);
  const bool has_preprocessor = std::filesystem::exists(preprocessor_file);
  if (!has_config && !has_preprocessor) {
    throw_user_error("{}: neither config.json nor preprocessor_config.json found", model_dir);
  }
  ImageProcessorSettings s;
  json config;
  if (has_config) {
    config = read_json(config_file);
    read_key(config, "model_type", s.model_type, config_file);
  }
  if (s.model_type.empty() && has_preprocessor) {
    // A folder with only preprocessor_config.json: its processor class names the family.
    std::string type;
    read_key(read_json(preprocessor_file), "image_processor_type", type, preprocessor_file);
    if (type == "Qwen2VLImageProcessor") s.model_type = "qwen2_vl";
  }
  if (is_qwen_family(s.model_type)) {
    if (has_preprocessor) read_qwen_preprocessor(preprocessor_file, s);
  } else if (is_internvl(s.model_type)) {
    read_internvl_config(config, config_file, s);
  } else {
    throw_user_error(
        "{}: model_type '{}' has no image processor (supported: qwen2_vl, qwen2_5_vl, "
        "internvl_chat)",
        has_config ? config_file.string() : preprocessor_file.string(), s.model_type);
  }
  return s;
}

std::unique_ptr<ImageProcessor> make_image_processor(const ImageProcessorSettings& s) {
  for (int c = 0; c < 3; ++c) {
    if (!(s.std[c] > 0.0f) || !std::isfinite(s.mean[c])) {
      throw_user_error(
          "image processor: std must be positive and mean finite (channel {}: mean {}, "
          "std {})",
          c, s.mean[c], s.std[c]);
    }
  }
  if (is_qwen_family(s.model_type)) {
    if (s.patch_size <= 0 || s.merge_size <= 0 || s.temporal_patch_size <= 0) {
      throw_user_error(
          "image processor: patch_size {}, merge_size {} and temporal_patch_size {} "
          "must be positive",
          s.patch_size, s.merge_size, s.temporal_patch_size);
    }
    if (s.min_pixels <= 0 || s.max_pixels < s.min_pixels) {
      throw_user_error("image processor: need 0 < min_pixels <= max_pixels, got {} and {}",
                       s.min_pixels, s.max_pixels);
    }
    return std::make_unique<Qwen2VLImageProcessor>(s);
  }
  if (is_internvl(s.model_type)) {
    if (s.image_size <= 0 || s.min_tiles < 1 || s.max_tiles < s.min_tiles) {
      throw_user_error(
          "image processor: need image_size > 0 and 1 <= min_tiles <= max_tiles, got "
          "{}, {} and {}",
          s.image_size, s.min_tiles, s.max_tiles);
    }
    return std::make_unique<InternVLImageProcessor>(s);
  }
  throw_user_error(
      "image processor: unknown model_type '{}' (supported: qwen2_vl, qwen2_5_vl, "
      "internvl_chat)",
      s.model_type);
}

}  // namespace tokenfocus::data
