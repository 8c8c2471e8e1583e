// PS term (Position-Specific): the label positions only, with temperature τ.
//   q = softmax(z_S / τ),   ℓ = −Σ_i p_i · log q_i
// Per-row values; the caller normalises.
#pragma once

#include <torch/torch.h>

namespace tokenfocus::losses {

// label_logits [n,K] -> log q [n,K].
torch::Tensor label_log_distribution(const torch::Tensor& label_logits, double temperature);

// label_logits [n,K], target_dist [n,K] -> [n].
torch::Tensor position_specific_rows(const torch::Tensor& label_logits,
                                     const torch::Tensor& target_dist, double temperature);

}  // namespace tokenfocus::losses
