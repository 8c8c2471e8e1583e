// Scores at inference, from the query rows' hidden states and the LM-head weight (DESIGN.md §4):
//   overall:  q = softmax(z_S / τ), ŝ = Σ q_i v_i
//   element:  P(yes | {yes, no}) = Σ_i q_i v_i with v = (1, 0); with case variants, each label's
//             mass is the sum over its ids ("yes", "Yes", "YES") before normalising over the set
//   zero-shot (VQAScore): P("Yes") under softmax over the FULL vocabulary at the first answer
//   token.
#pragma once

#include <torch/torch.h>

#include "losses/label_head.h"

namespace tokenfocus::losses {

struct ScoreReadout {
  torch::Tensor score;         // [Q] expected value Σ q_i v_i
  torch::Tensor distribution;  // [Q,K] q over the label set
};

// q over the label set; `sum_variants` adds each label's case variants to its mass.
torch::Tensor label_distribution(const torch::Tensor& hidden, const torch::Tensor& lm_head_weight,
                                 const LabelHead& head, double temperature, bool sum_variants);

// ŝ and q for overall questions (variants are not summed: digits have none).
ScoreReadout read_overall(const torch::Tensor& hidden, const torch::Tensor& lm_head_weight,
                          const LabelHead& head, double temperature);

// P(yes | {yes, no}) for element questions: the expected value of the yes/no head (values 1/0).
torch::Tensor element_probability(const torch::Tensor& hidden, const torch::Tensor& lm_head_weight,
                                  const LabelHead& yes_no, double temperature, bool sum_variants);

// VQAScore-style zero-shot read-out: Σ_{t ∈ yes_ids} softmax(z)_t over the full vocabulary
// (yes_ids [n] int64, e.g. the single id of "Yes").
torch::Tensor zero_shot_yes_probability(const torch::Tensor& hidden,
                                        const torch::Tensor& lm_head_weight,
                                        const torch::Tensor& yes_ids);

}  // namespace tokenfocus::losses
