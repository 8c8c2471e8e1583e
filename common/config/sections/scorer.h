// `scorer.yaml` of an exported fold model (RUN/models/<backbone>/fold<k>/): everything besides the
// weights and the tokenizer that scoring needs to ask the questions the model was trained on and
// to read its answers, plus where the model came from.
#pragma once

#include <cstdint>
#include <string>

#include "common/config/check.h"
#include "common/config/sections/backbone.h"
#include "common/config/sections/prompt.h"

namespace tokenfocus::config {

struct ScorerConfig {
  std::string backbone;         // the run's backbone name
  int64_t fold = 0;             // the fold this model was trained without
  std::string run_config_hash;  // SHA-256 of the run config that trained it
  PromptConfig prompt;          // questions, label sets, system message
  ImageConfig image;            // resolution / tiling the model was trained at
  double temperature = 1.0;     // τ of the label-set softmax (loss.temperature)
  template <class V>
  void describe(V& v) {
    v("backbone", backbone);
    v("fold", fold, at_least(0));
    v("run_config_hash", run_config_hash);
    v("prompt", prompt);
    v("image", image);
    v("temperature", temperature, positive());
  }
};

}  // namespace tokenfocus::config
