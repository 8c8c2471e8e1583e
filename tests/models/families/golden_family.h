// The golden models of every backbone family (../shared/golden or $TOKENFOCUS_GOLDEN_DIR): how
// each spells an image in its token ids, a random image of its layout, and its backbone loaded as
// the product loads it. Shared by the cross-family suites (packing, recompute).
#pragma once

#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/batch.h"
#include "models/internvl_model.h"
#include "models/registry.h"
#include "models/safetensors.h"
#include "tests/support/golden_root.h"

namespace tokenfocus::models {

inline const std::vector<std::string>& golden_families() {
  static const std::vector<std::string> families{"qwen2_vl", "qwen2_5_vl", "internvl2_5_qwen2",
                                                 "internvl2_5_internlm2"};
  return families;
}

inline std::string golden_dir(const std::string& family) {
  return tokenfocus::testing::golden_root() + "/" + family;
}

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": missing (the golden models are required)");
  return nlohmann::json::parse(in);
}

// How one family spells an image in its token ids, and a random image of its layout.
struct Family {
  std::string name;
  bool internvl = false;
  int64_t image_token = 0, image_start = 0, image_end = 0;
  int64_t width = 0;            // Qwen: a patch row's length
  int64_t tile = 0;             // InternVL: tile side
  int64_t tokens_per_tile = 0;  // InternVL
  int64_t pad_id = 0;

  std::shared_ptr<Backbone> load(torch::ScalarType dtype = torch::kFloat) const {
    const std::string dir = golden_dir(name);
    LoadOptions options;
    options.dtype = dtype;
    if (!internvl) return load_backbone(dir, options);
    auto backbone =
        std::dynamic_pointer_cast<InternVLBackbone>(load_internvl_backbone(dir, options));
    backbone->set_img_context_token_id(image_token);
    return backbone;
  }

  // A random image of `size` (Qwen: a grid (1, h, w) in patches; InternVL: that many tiles) and
  // the ids of its block in a sequence.
  std::pair<data::BatchImage, std::vector<int64_t>> image(int64_t h, int64_t w,
                                                          std::mt19937& rng) const {
    std::normal_distribution<float> normal;
    data::BatchImage image;
    int64_t tokens = 0;
    if (internvl) {
      image.shape = {h, 3, tile, tile};
      tokens = h * tokens_per_tile;
    } else {
      image.shape = {h * w, width};
      image.grid_thw = {1, h, w};
      tokens = h * w / 4;  // spatial_merge_size 2
    }
    int64_t count = 1;
    for (int64_t d : image.shape) count *= d;
    image.pixel_values.resize(static_cast<size_t>(count));
    for (float& x : image.pixel_values) x = normal(rng);
    std::vector<int64_t> ids{image_start};
    ids.insert(ids.end(), static_cast<size_t>(tokens), image_token);
    ids.push_back(image_end);
    return {image, ids};
  }
};

inline Family family_named(const std::string& name) {
  Family f;
  f.name = name;
  const std::string dir = golden_dir(name);
  if (name.rfind("internvl", 0) == 0) {
    f.internvl = true;
    const auto special = read_json(dir + "/special_tokens.json");
    const auto& tokens = special.at("tokens");
    f.image_token = special.at("img_context_token_id").get<int64_t>();
    f.tokens_per_tile = special.at("num_image_token").get<int64_t>();
    f.image_start = tokens.at("<img>").get<int64_t>();
    f.image_end = tokens.at("</img>").get<int64_t>();
    f.pad_id = tokens.at("<|endoftext|>(pad)").get<int64_t>();
    f.tile = read_json(dir + "/config.json").at("force_image_size").get<int64_t>();
  } else {
    const auto config = read_json(dir + "/config.json");
    f.image_token = config.at("image_token_id").get<int64_t>();
    f.image_start = config.at("vision_start_token_id").get<int64_t>();
    f.image_end = config.at("vision_end_token_id").get<int64_t>();
    f.pad_id = config.at("bos_token_id").get<int64_t>();  // <|endoftext|> in the tiny vocabulary
    f.width = load_safetensors(dir + "/case_1x4x4.safetensors").at("pixel_values").size(1);
  }
  return f;
}

}  // namespace tokenfocus::models
