#include "losses/focus_logits.h"

#include "common/error.h"

namespace tokenfocus::losses {
namespace {

torch::Tensor at_least_float32(const torch::Tensor& t) {
  return t.scalar_type() == torch::kHalf || t.scalar_type() == torch::kBFloat16
             ? t.to(torch::kFloat)
             : t;
}

void check_shapes(const torch::Tensor& hidden, const torch::Tensor& weight) {
  if (hidden.dim() != 2 || weight.dim() != 2 || hidden.size(1) != weight.size(1))
    throw_internal_error("focus head: hidden {} and LM-head weight {} do not match ([Q,H] x [V,H])",
                         c10::str(hidden.sizes()), c10::str(weight.sizes()));
}

}  // namespace

torch::Tensor vocabulary_logits(const torch::Tensor& hidden, const torch::Tensor& lm_head_weight) {
  check_shapes(hidden, lm_head_weight);
  return at_least_float32(torch::matmul(hidden, lm_head_weight.t()));
}

torch::Tensor label_logits(const torch::Tensor& hidden, const torch::Tensor& lm_head_weight,
                           const torch::Tensor& token_ids) {
  check_shapes(hidden, lm_head_weight);
  auto rows = lm_head_weight.index_select(0, token_ids.to(lm_head_weight.device()));
  // Scoring reads out in float64 (scoring/batch_scores.cpp): the few label rows follow it.
  if (hidden.scalar_type() == torch::kDouble) rows = rows.to(torch::kDouble);
  return at_least_float32(torch::matmul(hidden, rows.t()));
}

}  // namespace tokenfocus::losses
