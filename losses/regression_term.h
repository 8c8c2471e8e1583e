// Regression term: the expected score ŝ = Σ_i q_i v_i against the target value (MOS for overall
// questions, the annotators' mean 0/1 label for element questions).
//   mse:        ℓ = (ŝ − y)²
//   smooth_l1:  ℓ = 0.5 (ŝ − y)² / β  if |ŝ − y| < β,  else |ŝ − y| − 0.5 β   (torch's SmoothL1)
#pragma once

#include <string>

#include <torch/torch.h>

namespace tokenfocus::losses {

enum class RegressionKind { kMse, kSmoothL1 };

// "mse" | "smooth_l1" (the values loss.regression accepts).
RegressionKind regression_kind_from_name(const std::string& name);

// q [n,K], values [K] -> ŝ [n].
torch::Tensor expected_score(const torch::Tensor& q, const torch::Tensor& values);

// score [n], target [n] (no NaN: the caller drops unknown targets) -> [n].
torch::Tensor regression_rows(const torch::Tensor& score, const torch::Tensor& target,
                              RegressionKind kind, double smooth_l1_beta = 1.0);

}  // namespace tokenfocus::losses
