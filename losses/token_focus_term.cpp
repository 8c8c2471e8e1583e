#include "losses/token_focus_term.h"

namespace tokenfocus::losses {

torch::Tensor token_focus_hard_rows(const torch::Tensor& logits,
                                    const torch::Tensor& target_token) {
  const auto log_probs = torch::log_softmax(logits, /*dim=*/1);
  return -log_probs.gather(1, target_token.to(logits.device()).view({-1, 1})).squeeze(1);
}

torch::Tensor token_focus_soft_rows(const torch::Tensor& logits, const torch::Tensor& label_ids,
                                    const torch::Tensor& target_dist) {
  const auto log_probs = torch::log_softmax(logits, /*dim=*/1);
  const auto at_labels = log_probs.index_select(1, label_ids.to(logits.device()));
  return -(target_dist.to(at_labels.options()) * at_labels).sum(1);
}

}  // namespace tokenfocus::losses
