// What several model suites read from a case file in the golden layout (shared/golden/README.md):
// the model inputs, and the loss the training references are defined with.
#pragma once

#include <map>
#include <string>

#include <torch/torch.h>

#include "models/backbone.h"

namespace tokenfocus::models::testing {

// input_ids, attention_mask, pixel_values and image_grid_thw of the case, one image per sequence
// in order (image_of_sequence = arange(B)).
inline ModelInputs case_inputs(const std::map<std::string, torch::Tensor>& tensors) {
  ModelInputs inputs;
  inputs.input_ids = tensors.at("input_ids");
  inputs.attention_mask = tensors.at("attention_mask");
  inputs.pixel_values = tensors.at("pixel_values");
  inputs.image_grid_thw = tensors.at("image_grid_thw");
  inputs.image_of_sequence = torch::arange(inputs.input_ids.size(0), torch::kLong);
  return inputs;
}

// Hugging Face's causal-LM loss: mean cross-entropy of logits[:, :-1] against labels[:, 1:],
// labels of -100 left out, logits in float32.
inline torch::Tensor shifted_cross_entropy(const torch::Tensor& logits,
                                           const torch::Tensor& labels) {
  const int64_t vocab = logits.size(-1);
  const torch::Tensor shifted_logits = logits.narrow(1, 0, logits.size(1) - 1).reshape({-1, vocab});
  const torch::Tensor shifted_labels = labels.narrow(1, 1, labels.size(1) - 1).reshape({-1});
  return torch::nn::functional::cross_entropy(
      shifted_logits.to(torch::kFloat), shifted_labels,
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
}

}  // namespace tokenfocus::models::testing
