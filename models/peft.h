// LoRA adapters in Hugging Face PEFT's layout, so adapters trained here load in Python
// (`PeftModel.from_pretrained(model, dir)`) and adapters trained there load here.
//
// A folder holds adapter_config.json (peft_type "LORA", r, lora_alpha, target_modules, ...) and
// adapter_model.safetensors with keys `base_model.model.<module name>.lora_A.weight` ([r, in]) and
// `...lora_B.weight` ([out, r]), <module name> being the Hugging Face name of the linear layer
// (`model.layers.0.self_attn.q_proj`). No adapter-name segment ("default.") appears in files.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "common/config/sections/backbone.h"

namespace tokenfocus::models {

// Adds LoRA factors to every models::Linear under `root` whose name matches a target the way PEFT
// matches a list: the full name equals the target or ends with "." + target ("q_proj",
// "self_attn.q_proj"). Returns the names of the adapted layers, in module order. UserError naming
// the targets when nothing matched; layers that already have LoRA are an error too.
std::vector<std::string> apply_lora(torch::nn::Module& root, const config::LoraConfig& lora);

// The LoRA factors of every adapted layer, keyed `<module name>.lora_A.weight` / `.lora_B.weight`.
std::map<std::string, torch::Tensor> lora_state_dict(torch::nn::Module& root);

// Folds every adapter into its base weight (W += alpha/r · B·A) and removes the factors; returns
// how many layers were merged.
int merge_lora(torch::nn::Module& root);

// Writes DIR/adapter_config.json and DIR/adapter_model.safetensors (each through a temporary name),
// creating DIR. `lora` must be the settings the adapters were made with.
void save_peft_adapter(const std::string& dir, torch::nn::Module& root,
                       const config::LoraConfig& lora, const std::string& base_model_name);

// Reads a PEFT LoRA adapter folder: the config's settings as a LoraConfig. UserError naming the
// file and key for anything we cannot reproduce exactly (DoRA, rsLoRA, per-layer rank/alpha
// patterns, fan_in_fan_out, trained biases, modules_to_save).
config::LoraConfig read_peft_adapter_config(const std::string& dir);

// Adds LoRA to `root` as the adapter's config says (unless `root` already has exactly those adapted
// layers) and loads the factors strictly: every adapted layer's A and B present with the right
// shapes, no other tensor. Returns the adapter's settings.
config::LoraConfig load_peft_adapter(const std::string& dir, torch::nn::Module& root);

}  // namespace tokenfocus::models
