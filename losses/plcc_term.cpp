#include "losses/plcc_term.h"

namespace tokenfocus::losses {

torch::Tensor pearson_correlation(const torch::Tensor& score, const torch::Tensor& target,
                                  double epsilon) {
  if (score.numel() == 0) return torch::zeros({}, score.options());
  const auto y = target.to(score.options());
  const auto ds = score - score.mean();
  const auto dy = y - y.mean();
  const auto covariance = (ds * dy).mean();
  const auto var_s = (ds * ds).mean();
  const auto var_y = (dy * dy).mean();
  return covariance / torch::sqrt((var_s + epsilon) * (var_y + epsilon));
}

torch::Tensor plcc_loss(const torch::Tensor& score, const torch::Tensor& target, double epsilon) {
  return 1.0 - pearson_correlation(score, target, epsilon);
}

}  // namespace tokenfocus::losses
