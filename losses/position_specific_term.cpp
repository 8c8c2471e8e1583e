#include "losses/position_specific_term.h"

namespace tokenfocus::losses {

torch::Tensor label_log_distribution(const torch::Tensor& label_logits, double temperature) {
  return torch::log_softmax(label_logits / temperature, /*dim=*/1);
}

torch::Tensor position_specific_rows(const torch::Tensor& label_logits,
                                     const torch::Tensor& target_dist, double temperature) {
  const auto log_q = label_log_distribution(label_logits, temperature);
  return -(target_dist.to(log_q.options()) * log_q).sum(1);
}

}  // namespace tokenfocus::losses
