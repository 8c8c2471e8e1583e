// The InternVL golden folders and their case files, found at run time: $TOKENFOCUS_GOLDEN_DIR
// (default ../shared/golden next to the source root) / internvl2_5_{qwen2,internlm2}.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/internvl_model.h"

namespace tokenfocus::models::testing {

std::vector<std::string> internvl_families();  // {"internvl2_5_qwen2", "internvl2_5_internlm2"}
std::string internvl_family_dir(const std::string& family);

struct InternVLCase {
  std::string family, path, name;
};
std::vector<InternVLCase> internvl_cases();  // every case_*.safetensors of every family, sorted

std::map<std::string, torch::Tensor> read_tensors(const std::string& path);
// input_ids, attention_mask, pixel_values, image_flags (as image_grid_thw).
ModelInputs internvl_case_inputs(const std::map<std::string, torch::Tensor>& tensors);

// The family's backbone (img_context_token_id from special_tokens.json), loaded once per process.
std::shared_ptr<InternVLBackbone> internvl_backbone(const std::string& family);
// A fresh copy (for tests that change the model: LoRA, freezing, checkpointing).
std::shared_ptr<InternVLBackbone> fresh_internvl_backbone(const std::string& family);

double max_abs(const torch::Tensor& a, const torch::Tensor& b);

// InternVLChatModel's loss: mean cross entropy of logits[:, :-1] against labels[:, 1:], -100
// ignored, over the whole batch.
torch::Tensor shifted_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels);

}  // namespace tokenfocus::models::testing
