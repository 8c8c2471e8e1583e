// A trained fold model as a self-contained scoring folder, RUN/models/<backbone>/fold<k>/:
//   config.json, model.safetensors  the weights (full fine-tuning: all of them; LoRA: merged into
//                                   the base weights, so the folder needs no base model)
//   preprocessor_config.json        Qwen family, copied from the base model folder
//   tokenizer.json                  the tokenizer the model was trained with
//   tokenfocus.json                 config::ScorerConfig: questions, label sets, temperature,
//                                   image settings, model type and chat template, backbone,
//                                   fold, run config hash
// `tokenfocus score`, `serve`, `paircomp` and `predict` load it; nothing else from the run is
// needed.
#pragma once

#include <memory>
#include <string>

#include "common/config/run_config.h"
#include "common/config/sections/scorer.h"
#include "data/image_processor.h"
#include "data/label_set.h"
#include "data/tokenizer.h"
#include "losses/label_head.h"
#include "models/backbone.h"

namespace tokenfocus::scoring {

// RUN/models/<backbone>/fold<k>
std::string scorer_folder_path(const std::string& run_dir, const std::string& backbone,
                               int64_t fold);

// Writes the folder for `model` (trained from backbone `b` of `run`) via a temporary folder and a
// rename, replacing an older export. LoRA adapters must be merged already (models::merge_lora):
// the trainer predicts with the merged weights too, so the folder reproduces its predictions.
void export_scorer_folder(const std::string& dir, models::Backbone& model,
                          const config::BackboneConfig& b, const config::RunConfig& run,
                          const std::string& run_config_hash, int64_t fold);

// The image processor of the model folder `model_dir`, at the resolution / tiling the run asks for
// (the run's `image:` section wins over the folder's preprocessor settings).
std::unique_ptr<data::ImageProcessor> make_image_processor_for(const std::string& model_dir,
                                                               const config::ImageConfig& image);

// What a scoring folder holds, loaded: the model and everything its questions need.
// scoring/scorer.h turns it into something that scores.
struct ScorerFolder {
  config::ScorerConfig config;
  std::shared_ptr<models::Backbone> model;
  data::Tokenizer tokenizer;
  data::LabelSet overall_labels, element_labels;
  losses::LabelHead overall, element;
  std::unique_ptr<data::ImageProcessor> processor;
};

// The chat template's name in tokenfocus.json ("qwen2_vl", "internvl2_5") for a model type.
std::string chat_template_name(const std::string& model_type);

// Loads a folder written by export_scorer_folder. UserError naming the folder and the missing or
// malformed file (tokenfocus.json errors name file:line and key).
ScorerFolder load_scorer_folder(const std::string& dir);

}  // namespace tokenfocus::scoring
