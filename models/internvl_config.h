// OpenGVLab's InternVLChatConfig (`config.json` of an InternVL2.5 checkpoint, model_type
// "internvl_chat") as a typed struct: the InternViT `vision_config`, the `llm_config` (Qwen2 or
// InternLM2) and the projector settings. Defaults are those of configuration_internvl_chat.py /
// configuration_intern_vit.py / configuration_internlm2.py, used for keys a file leaves out.
#pragma once

#include <cstdint>
#include <string>

#include "models/hf_config.h"

namespace tokenfocus::models {

struct InternVisionConfig {
  int64_t num_channels = 3;
  int64_t patch_size = 14;
  int64_t image_size = 224;
  int64_t hidden_size = 3200;
  int64_t num_hidden_layers = 48;
  int64_t num_attention_heads = 25;
  int64_t intermediate_size = 12800;
  std::string hidden_act = "gelu";
  std::string norm_type = "rms_norm";  // rms_norm (InternViT-6B) | layer_norm (InternViT-300M)
  double layer_norm_eps = 1e-6;
  bool qkv_bias = false;
  bool qk_normalization = true;
  double initializer_factor = 0.1;  // ls1 / ls2 start value
  double initializer_range = 0.02;

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  int64_t grid() const { return image_size / patch_size; }
};

struct InternVLConfig {
  InternVisionConfig vision;
  // The LLM: "qwen2" (Qwen2ForCausalLM) or "internlm2" (InternLM2ForCausalLM). Its sizes live in
  // `llm` (the Qwen2 decoder's struct; for Qwen2 mrope_section = {head_dim/2, 0, 0}, which makes
  // M-RoPE the plain 1-D rotary embedding when all three id rows are equal).
  std::string llm_type = "qwen2";
  HfModelConfig llm;
  bool llm_bias = false;          // InternLM2 `bias` (wqkv, wo, w1/w2/w3)
  std::string rope_scaling_type;  // "" | "dynamic" | "linear" (InternLM2 only)
  double rope_scaling_factor = 1.0;
  int64_t max_position_embeddings = 32768;

  int64_t select_layer = -1;
  double downsample_ratio = 0.5;
  std::string ps_version = "v2";
  std::string template_name = "internvl2_5";
  int64_t force_image_size = 448;
  bool dynamic_image_size = true;
  bool use_thumbnail = true;
  int64_t min_dynamic_patch = 1;
  int64_t max_dynamic_patch = 12;
  // Not in OpenGVLab's config.json (set from the tokenizer's "<IMG_CONTEXT>" at run time): read
  // from an optional "img_context_token_id" key, else from the folder's tokenizer files.
  int64_t img_context_token_id = -1;

  // Tokens per tile after pixel shuffle: (image_size / patch)² · downsample_ratio².
  int64_t num_image_token() const;
  // Channels entering mlp1: vision hidden · (1 / downsample_ratio)².
  int64_t projector_in() const;
};

// Parses config.json text (`source` names it in errors): UserError naming the file and key for a
// wrong type, an unsupported llm architecture, rope scaling or pixel-shuffle version, or
// inconsistent sizes.
InternVLConfig parse_internvl_config(const std::string& json_text, const std::string& source);
InternVLConfig read_internvl_config(const std::string& path);
// True when the config.json at `path` says model_type "internvl_chat".
bool is_internvl_config(const std::string& path);
// config.json text for `config` (all keys written; reads back to the same struct).
std::string internvl_config_to_json(const InternVLConfig& config);
// The id of "<IMG_CONTEXT>" in MODEL_DIR/added_tokens.json or tokenizer.json ("added_tokens"), or
// -1 when neither names it.
int64_t find_img_context_token_id(const std::string& model_dir);

}  // namespace tokenfocus::models
