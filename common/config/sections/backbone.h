// `backbones:` — one entry per model to fine-tune (Hugging Face checkpoint folder + fine-tuning).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config/check.h"
#include "common/config/sections/prompt.h"

namespace tokenfocus::config {

struct LoraConfig {
  int64_t rank = 8;
  double alpha = 16.0;
  double dropout = 0.0;
  std::vector<std::string> target_modules{"q_proj", "k_proj", "v_proj", "o_proj"};
  template <class V>
  void describe(V& v) {
    v("rank", rank, at_least(1));
    v("alpha", alpha, positive());
    v("dropout", dropout, in_range(0.0, 1.0));
    v("target_modules", target_modules);
  }
};

struct ImageConfig {
  int64_t min_pixels = 3136;  // Qwen2-VL family: smart_resize bounds
  int64_t max_pixels = 200704;
  int64_t max_tiles = 12;  // InternVL2.5: dynamic tiling
  bool use_thumbnail = true;
  template <class V>
  void describe(V& v) {
    v("min_pixels", min_pixels, at_least(1));
    v("max_pixels", max_pixels, at_least(1));
    v("max_tiles", max_tiles, at_least(1));
    v("use_thumbnail", use_thumbnail);
  }
};

struct BackboneConfig {
  std::string name;         // unique, names the predictions store
  std::string model_dir;    // config.json + *.safetensors (+ tokenizer.json)
  std::string tokenizer;    // tokenizer.json ("" = model_dir/tokenizer.json)
  std::string init_config;  // config.json of a tiny model to initialise at random into
                            // model_dir when that folder has no weights yet (`prepare`)
  int64_t init_seed = 0;
  std::string finetune = "lora";
  LoraConfig lora;
  bool freeze_vision = true;
  bool gradient_checkpointing = false;
  ImageConfig image;
  // This backbone's own overall question and label set (e.g. Q-Align's rating words, whose single
  // tokens differ between vocabularies); "" / no labels = the prompt section's.
  std::string overall_question;
  LabelSetConfig overall_labels;
  template <class V>
  void describe(V& v) {
    v("name", name, required());
    v("model_dir", model_dir, required());
    v("tokenizer", tokenizer);
    v("init_config", init_config);
    v("init_seed", init_seed, at_least(0));
    v("finetune", finetune, one_of({"full", "lora", "head"}));
    v("lora", lora);
    v("freeze_vision", freeze_vision);
    v("gradient_checkpointing", gradient_checkpointing);
    v("image", image);
    v("overall_question", overall_question);
    v("overall_labels", overall_labels);
  }
};

}  // namespace tokenfocus::config
