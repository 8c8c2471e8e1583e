// Every parameter a backbone registers — name, shape, which linear layer it belongs to — worked out
// from config.json alone, without building or allocating the model: what `tokenfocus plan` counts
// for a 7-8 B checkpoint it cannot hold. The names and shapes are those models/*.cpp register
// (tests/trainer/plan builds the tiny models and compares them tensor by tensor), so a change to a
// model's layers that is not mirrored here fails that test.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config/sections/backbone.h"
#include "models/hf_config.h"
#include "models/internvl_config.h"

namespace tokenfocus::models {

struct ParameterShape {
  std::string name;            // Hugging Face name, as named_parameters() gives it
  std::vector<int64_t> shape;  // as registered
  // Part of the vision tower that Backbone::freeze_vision(true) freezes (the projector is not).
  bool vision_tower = false;
  int64_t numel() const;
};

// A models::Linear: the layers LoRA can adapt (PEFT's target_modules match their names).
struct LinearShape {
  std::string name;  // module name, e.g. "model.layers.0.self_attn.q_proj"
  int64_t in = 0, out = 0;
  bool vision_tower = false;  // its LoRA factors freeze with the tower too
};

// The sizes activations follow, per family (tokens through the decoder, patches through the tower).
struct ArchitectureSizes {
  std::string family;  // model_type: qwen2_vl | qwen2_5_vl | internvl_chat
  std::string llm;     // qwen2 | internlm2
  int64_t layers = 0, hidden = 0, intermediate = 0, heads = 0, kv_heads = 0, head_dim = 0;
  int64_t vocab = 0;
  // Vision tower: blocks, width, MLP width (SwiGLU: each of gate/up), heads, patch side.
  int64_t vision_blocks = 0, vision_hidden = 0, vision_mlp = 0, vision_heads = 0, patch = 14;
  bool vision_swiglu = false;
  int64_t merge = 2;           // Qwen: spatial_merge_size; InternVL: 1 / downsample_ratio
  int64_t temporal_patch = 1;  // Qwen: temporal_patch_size (an image is repeated over it)
  int64_t tile = 0;            // InternVL: force_image_size (pixels per tile side)
  int64_t projector_in = 0;    // channels entering the merger / mlp1
};

struct ArchitectureShapes {
  ArchitectureSizes sizes;
  std::vector<ParameterShape> parameters;  // registration order
  std::vector<LinearShape> linears;        // every models::Linear, registration order
};

ArchitectureShapes architecture_shapes(const HfModelConfig& config);
ArchitectureShapes architecture_shapes(const InternVLConfig& config);
// A config.json (Qwen2-VL / Qwen2.5-VL / InternVL2.5), read with the same parsers load_backbone
// uses; UserError naming the file for anything they reject.
ArchitectureShapes read_architecture_shapes(const std::string& config_json);

// What apply_lora adds for `lora`: two factors per matching linear layer, named
// "<layer>.lora_A.weight" [r, in] and "<layer>.lora_B.weight" [out, r], matched as PEFT matches a
// list (the name equals a target or ends with "." + target). UserError when nothing matches, as
// apply_lora.
std::vector<ParameterShape> lora_shapes(const ArchitectureShapes& shapes,
                                        const config::LoraConfig& lora);

}  // namespace tokenfocus::models
