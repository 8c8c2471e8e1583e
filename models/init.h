// Random initialisation and model folders for tiny configs (tests, the demo): weights drawn as
// Hugging Face's `_init_weights` draws them, written as a folder `load_backbone` reads back.
#pragma once

#include <cstdint>
#include <string>

#include "models/backbone.h"
#include "models/hf_config.h"

namespace tokenfocus::models {

// Hugging Face Qwen2-VL `_init_weights`: every linear / conv / embedding weight ~ N(0,
// initializer_range²), biases 0, norm weights 1 (LayerNorm biases 0); the embedding row of
// pad_token_id (if set) is 0. Deterministic for a seed (own generator, parameters in order).
void init_weights(Backbone& backbone, const HfModelConfig& config, uint64_t seed);

// Qwen2VLImageProcessor settings for preprocessor_config.json.
struct PreprocessorSettings {
  int64_t min_pixels = 56 * 56;
  int64_t max_pixels = 112 * 112;  // tiny demo: at most 8x8 patches = 16 image tokens
};
// Reads min_pixels / max_pixels of a preprocessor_config.json (UserError naming the file/key).
PreprocessorSettings read_preprocessor_settings(const std::string& path);

// Writes config.json, model.safetensors and preprocessor_config.json into `dir` (created if
// needed; each file via a temporary name and a rename).
void write_model_folder(const std::string& dir, const HfModelConfig& config, Backbone& backbone,
                        const PreprocessorSettings& preprocessor);

// `tokenfocus model init`: build from `config_path`, initialise with `seed`, write to `dir`.
void init_model_folder(const std::string& config_path, const std::string& dir, uint64_t seed,
                       const PreprocessorSettings& preprocessor);

}  // namespace tokenfocus::models
