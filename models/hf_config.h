// A Hugging Face `config.json` of the Qwen2-VL / Qwen2.5-VL families as a typed struct. HF writes
// only the keys that differ from its class defaults (`use_diff=True`), so every field below carries
// the default of transformers 4.49's configuration classes and the loader fills in what is absent.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tokenfocus::models {

struct HfVisionConfig {
  // Shared by both families.
  int64_t depth = 32;
  int64_t hidden_size = 0;  // ViT width: Qwen2-VL calls it embed_dim (its hidden_size is the LLM's)
  int64_t num_heads = 16;
  int64_t in_channels = 3;
  int64_t patch_size = 14;
  int64_t spatial_merge_size = 2;
  int64_t temporal_patch_size = 2;
  std::string hidden_act;       // quick_gelu (Qwen2-VL) | silu (Qwen2.5-VL)
  int64_t out_hidden_size = 0;  // merger output = text hidden size
  // Qwen2-VL: MLP width = embed_dim * mlp_ratio.
  double mlp_ratio = 4.0;
  // Qwen2.5-VL: SwiGLU MLP width, window attention.
  int64_t intermediate_size = 0;
  int64_t window_size = 0;
  std::vector<int64_t> fullatt_block_indexes;
  int64_t tokens_per_second = 0;
  double initializer_range = 0.02;

  int64_t head_dim() const { return hidden_size / num_heads; }
};

struct HfModelConfig {
  std::string model_type;  // "qwen2_vl" | "qwen2_5_vl"
  int64_t vocab_size = 152064;
  int64_t hidden_size = 8192;
  int64_t intermediate_size = 29568;
  int64_t num_hidden_layers = 80;
  int64_t num_attention_heads = 64;
  int64_t num_key_value_heads = 8;
  std::string hidden_act = "silu";
  double rms_norm_eps = 1e-5;
  double rope_theta = 1000000.0;
  std::vector<int64_t> mrope_section;  // empty = plain 1-D rotary
  bool tie_word_embeddings = false;
  double initializer_range = 0.02;
  double attention_dropout = 0.0;
  int64_t bos_token_id = 151643;
  int64_t eos_token_id = 151645;
  int64_t pad_token_id = -1;  // unset in HF's tiny and real Qwen configs
  int64_t vision_start_token_id = 151652;
  int64_t vision_end_token_id = 151653;
  int64_t image_token_id = 151655;
  int64_t video_token_id = 151656;
  HfVisionConfig vision;

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
};

// Reads `path` (a config.json); UserError naming the file and key for a wrong type, an unknown
// model_type or inconsistent sizes.
HfModelConfig read_hf_config(const std::string& path);
// Parses config.json text (`source` names it in errors).
HfModelConfig parse_hf_config(const std::string& json_text, const std::string& source);
// The config.json text HF would accept for `config` (all keys written, not only the non-defaults).
std::string hf_config_to_json(const HfModelConfig& config);

}  // namespace tokenfocus::models
