// `tokenfocus.json` of an exported fold model (RUN/models/<backbone>/fold<k>/): everything besides
// the weights, the model config and the tokenizer that scoring needs to ask the questions the model
// was trained on and to read its answers, plus where the model came from. JSON, read by the same
// typed reader as run configs (unknown keys, wrong types and bad values name file:line and key).
#pragma once

#include <cstdint>
#include <string>

#include "common/config/check.h"
#include "common/config/sections/backbone.h"
#include "common/config/sections/prompt.h"

namespace tokenfocus::config {

struct ScorerConfig {
  int64_t format_version = 1;
  std::string backbone;         // the run's backbone name
  int64_t fold = 0;             // the fold this model was trained without
  std::string model_type;       // config.json's model_type ("qwen2_vl", "internvl_chat", ...)
  std::string chat_template;    // the template the questions were asked in
  std::string finetune;         // full | lora (merged into the weights) | head
  std::string run_config_hash;  // SHA-256 of the run config that trained it
  PromptConfig prompt;          // questions, label sets, system message, element questions
  ImageConfig image;            // resolution / tiling the model was trained at
  double temperature = 1.0;     // τ of the label-set softmax (loss.temperature)
  template <class V>
  void describe(V& v) {
    v("format_version", format_version, Check{1, 1, false, {}, true});
    v("backbone", backbone, required());
    v("fold", fold, at_least(0));
    v("model_type", model_type, required());
    v("chat_template", chat_template, Check{{}, {}, false, {"qwen2_vl", "internvl2_5"}, true});
    v("finetune", finetune, one_of({"full", "lora", "head"}));
    v("run_config_hash", run_config_hash);
    v("prompt", prompt);
    v("image", image);
    v("temperature", temperature, positive());
  }
};

}  // namespace tokenfocus::config
