#include "models/registry.h"

#include <filesystem>

#include "common/error.h"
#include "models/internvl_model.h"
#include "models/qwen2_vl_model.h"
#include "models/state_dict.h"

namespace tokenfocus::models {

std::vector<std::string> supported_model_types() {
  return {"qwen2_vl", "qwen2_5_vl"};
}

std::shared_ptr<Backbone> build_backbone(const HfModelConfig& config) {
  if (config.model_type == "qwen2_vl" || config.model_type == "qwen2_5_vl")
    return std::make_shared<QwenVLBackbone>(config);
  throw_user_error("model_type '{}' has no backbone (supported: qwen2_vl, qwen2_5_vl)",
                   config.model_type);
}

std::shared_ptr<Backbone> load_backbone(const std::string& model_dir, const LoadOptions& load) {
  const std::filesystem::path dir(model_dir);
  if (!std::filesystem::is_directory(dir)) throw_user_error("{}: not a model folder", model_dir);
  if (is_internvl_config((dir / "config.json").string()))
    return load_internvl_backbone(model_dir, load);
  const HfModelConfig config = read_hf_config((dir / "config.json").string());
  StrictLoadOptions options;
  options.keep_stored_dtypes = !load.dtype;
  // Tied checkpoints may still carry lm_head.weight (a copy of the embedding): accept and ignore
  // it.
  if (config.tie_word_embeddings) options.allow_unexpected.push_back("lm_head.weight");
  auto tensors = load_checkpoint_dir(model_dir);  // mapped, nothing read yet
  if (config.tie_word_embeddings) tensors.erase("lm_head.weight");
  std::shared_ptr<Backbone> backbone;
  {
    const DefaultDtypeScope dtype(build_dtype(tensors, load));
    backbone = build_backbone(config);
  }
  load_state_dict_strict(*backbone, tensors, model_dir, options);
  backbone->eval();
  return backbone;
}

}  // namespace tokenfocus::models
