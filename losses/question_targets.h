// Per-question targets as tensors (one row per question of the local batch, in batch order).
// Built from a data::Batch by batch_targets.h; tests build them directly.
#pragma once

#include <torch/torch.h>

namespace tokenfocus::losses {

struct QuestionTargets {
  torch::Tensor is_element;    // [Q] bool: the row is a yes/no element question (else overall)
  torch::Tensor target_token;  // [Q] int64: vocabulary id of the hard target ("4", "yes")
  // [Q,Kmax] float: the annotators' distribution over the row's label set, in the order of its
  // LabelHead, zero-padded to the wider of the two label sets.
  torch::Tensor target_dist;
  torch::Tensor target_value;  // [Q] float64: MOS / element label mean; NaN = unknown (skipped)
  // [Q] float: each row's weight in the weighted means of the loss (pseudo-labels, EvalMuse flags);
  // undefined = every row weighs 1.
  torch::Tensor weight;

  // The same targets on `device` (undefined tensors stay undefined), as LabelHead::to.
  QuestionTargets to(const torch::Device& device) const {
    auto moved = [&](const torch::Tensor& t) { return t.defined() ? t.to(device) : t; };
    return {moved(is_element), moved(target_token), moved(target_dist), moved(target_value),
            moved(weight)};
  }
};

}  // namespace tokenfocus::losses
