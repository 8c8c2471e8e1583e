// Backbones by Hugging Face model_type: one entry per architecture, built from config.json. Tiny
// test and demo configs go through the same classes as real checkpoints.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/backbone.h"
#include "models/hf_config.h"
#include "models/state_dict.h"

namespace tokenfocus::models {

// The model_types the registry builds ("qwen2_vl", "qwen2_5_vl").
std::vector<std::string> supported_model_types();

// A backbone for `config` with random weights (models/init.h initialises them as HF does).
std::shared_ptr<Backbone> build_backbone(const HfModelConfig& config);

// MODEL_DIR/config.json → the architecture, then every weight of model.safetensors (or its shards)
// loaded strictly: one UserError lists all missing, unexpected and mis-shaped tensors. Weights are
// stored as `load` says (float32 by default), allocated once in that dtype and copied straight from
// the mapped files, so peak memory is about the model's size in that dtype. The model is returned
// in eval mode.
std::shared_ptr<Backbone> load_backbone(const std::string& model_dir, const LoadOptions& load = {});

}  // namespace tokenfocus::models
