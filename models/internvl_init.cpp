#include "models/internvl_init.h"

#include <filesystem>
#include <fstream>
#include <map>

#include <ATen/CPUGeneratorImpl.h>

#include "common/atomic_file.h"
#include "common/error.h"
#include "models/safetensors.h"

namespace tokenfocus::models {
namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

void init_internvl_weights(InternVLBackbone& backbone, uint64_t seed) {
  const InternVLConfig& config = backbone.config();
  torch::NoGradGuard no_grad;
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (const auto& item : backbone.named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor p = item.value();
    const bool vision = name.rfind("vision_model.", 0) == 0;
    const double range = vision ? config.vision.initializer_range : config.llm.initializer_range;
    if (ends_with(name, "class_embedding") || ends_with(name, "position_embedding")) {
      p.normal_(0.0, 1.0, generator);
    } else if (ends_with(name, ".ls1") || ends_with(name, ".ls2")) {
      p.fill_(config.vision.initializer_factor);
    } else if (ends_with(name, "bias")) {
      p.zero_();
    } else if (p.dim() == 1) {
      p.fill_(1.0);  // LayerNorm / RMSNorm weights
    } else {
      p.normal_(0.0, range, generator);
    }
  }
  if (config.llm_type == "internlm2" && config.llm.pad_token_id >= 0)
    backbone
        .named_parameters()["language_model.model.tok_embeddings.weight"][config.llm.pad_token_id]
        .zero_();
}

void write_internvl_model_folder(const std::string& dir, InternVLBackbone& backbone) {
  namespace fs = std::filesystem;
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) throw_user_error("{}: cannot create the folder ({})", dir, error.message());
  const fs::path config_path = fs::path(dir) / "config.json";
  write_file_atomically(config_path.string(), internvl_config_to_json(backbone.config()));
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& item : backbone.named_parameters()) tensors[item.key()] = item.value().detach();
  save_safetensors((fs::path(dir) / "model.safetensors").string(), tensors, {{"format", "pt"}});
}

void init_internvl_model_folder(const std::string& config_path, const std::string& dir,
                                uint64_t seed) {
  auto backbone = build_internvl_backbone(read_internvl_config(config_path));
  init_internvl_weights(*backbone, seed);
  write_internvl_model_folder(dir, *backbone);
}

}  // namespace tokenfocus::models
