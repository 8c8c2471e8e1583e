// The LM head applied at the query rows only ("token focus"): the rows of the batch whose hidden
// state predicts the first answer token. Logits are returned in at least float32 so that
// log-softmax over 151k entries stays exact when the backbone runs in bf16/fp16.
#pragma once

#include <torch/torch.h>

namespace tokenfocus::losses {

// [Q,H] x [V,H] -> [Q,V]: the full vocabulary row (what the TF term and the zero-shot read-out
// need).
torch::Tensor vocabulary_logits(const torch::Tensor& hidden, const torch::Tensor& lm_head_weight);

// [Q,H] x rows `token_ids` of [V,H] -> [Q,K]: only |S| rows of the head are touched (PS,
// regression).
torch::Tensor label_logits(const torch::Tensor& hidden, const torch::Tensor& lm_head_weight,
                           const torch::Tensor& token_ids);

}  // namespace tokenfocus::losses
