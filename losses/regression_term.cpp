#include "losses/regression_term.h"

#include "common/error.h"

namespace tokenfocus::losses {

RegressionKind regression_kind_from_name(const std::string& name) {
  if (name == "mse") return RegressionKind::kMse;
  if (name == "smooth_l1") return RegressionKind::kSmoothL1;
  throw_user_error("loss.regression: unknown kind '{}' (expected mse or smooth_l1)", name);
}

torch::Tensor expected_score(const torch::Tensor& q, const torch::Tensor& values) {
  return (q * values.to(q.options()).view({1, -1})).sum(1);
}

torch::Tensor regression_rows(const torch::Tensor& score, const torch::Tensor& target,
                              RegressionKind kind, double smooth_l1_beta) {
  const auto diff = score - target.to(score.options());
  if (kind == RegressionKind::kMse) return diff * diff;
  const auto abs_diff = diff.abs();
  return torch::where(abs_diff < smooth_l1_beta, 0.5 * diff * diff / smooth_l1_beta,
                      abs_diff - 0.5 * smooth_l1_beta);
}

}  // namespace tokenfocus::losses
