#include "models/init.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/error.h"
#include "models/registry.h"
#include "models/safetensors.h"

namespace tokenfocus::models {
namespace {

namespace fs = std::filesystem;

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

void init_weights(Backbone& backbone, const HfModelConfig& config, uint64_t seed) {
  torch::NoGradGuard no_grad;
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const double std = config.initializer_range;
  for (auto& item : backbone.named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor& parameter = item.value();
    const bool norm =
        name.find("norm") != std::string::npos || name.find("ln_q") != std::string::npos;
    if (ends_with(name, ".bias")) {
      parameter.zero_();
    } else if (norm) {
      parameter.fill_(1.0);
    } else {
      // Drawn on the CPU in float32 so a seed gives the same weights on every device.
      parameter.copy_(torch::empty(parameter.sizes(), torch::kFloat).normal_(0.0, std, generator));
      if (name == "model.embed_tokens.weight" && config.pad_token_id >= 0)
        parameter[config.pad_token_id].zero_();
    }
  }
}

PreprocessorSettings read_preprocessor_settings(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw_user_error("{}: cannot open the preprocessor config", path);
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& error) {
    throw_user_error("{}: not valid JSON: {}", path, error.what());
  }
  PreprocessorSettings settings;
  for (auto [key, field] : {std::pair<const char*, int64_t*>{"min_pixels", &settings.min_pixels},
                            std::pair<const char*, int64_t*>{"max_pixels", &settings.max_pixels}}) {
    if (!root.contains(key)) continue;
    if (!root[key].is_number_integer() || root[key].get<int64_t>() <= 0)
      throw_user_error("{}: key '{}' must be a positive integer", path, key);
    *field = root[key].get<int64_t>();
  }
  if (settings.min_pixels > settings.max_pixels)
    throw_user_error("{}: min_pixels {} exceeds max_pixels {}", path, settings.min_pixels,
                     settings.max_pixels);
  return settings;
}

void write_model_folder(const std::string& dir, const HfModelConfig& config, Backbone& backbone,
                        const PreprocessorSettings& preprocessor) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) throw_user_error("{}: cannot create the model folder: {}", dir, error.message());
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& item : backbone.named_parameters()) {
    const std::string& name = item.key();
    const torch::Tensor& parameter = item.value();
    tensors[name] = parameter.detach().to(torch::kCPU, torch::kFloat);
  }
  save_safetensors((fs::path(dir) / "model.safetensors").string(), tensors, {{"format", "pt"}});
  const nlohmann::json processor = {{"image_processor_type", "Qwen2VLImageProcessor"},
                                    {"do_convert_rgb", true},
                                    {"do_normalize", true},
                                    {"do_rescale", true},
                                    {"do_resize", true},
                                    {"image_mean", {0.48145466, 0.4578275, 0.40821073}},
                                    {"image_std", {0.26862954, 0.26130258, 0.27577711}},
                                    {"min_pixels", preprocessor.min_pixels},
                                    {"max_pixels", preprocessor.max_pixels},
                                    {"merge_size", config.vision.spatial_merge_size},
                                    {"patch_size", config.vision.patch_size},
                                    {"temporal_patch_size", config.vision.temporal_patch_size},
                                    {"resample", 3},
                                    {"rescale_factor", 1.0 / 255.0}};
  write_file_atomically((fs::path(dir) / "preprocessor_config.json").string(),
                        processor.dump(2) + "\n");
  // config.json last: its presence marks a complete folder.
  write_file_atomically((fs::path(dir) / "config.json").string(), hf_config_to_json(config));
}

void init_model_folder(const std::string& config_path, const std::string& dir, uint64_t seed,
                       const PreprocessorSettings& preprocessor) {
  const HfModelConfig config = read_hf_config(config_path);
  std::shared_ptr<Backbone> backbone = build_backbone(config);
  init_weights(*backbone, config, seed);
  write_model_folder(dir, config, *backbone, preprocessor);
}

}  // namespace tokenfocus::models
