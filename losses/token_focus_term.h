// TF term (Token Focus): cross-entropy of softmax(z) over the WHOLE vocabulary at the first answer
// token. Per-row values; the caller normalises (see tf_ps_loss.h for the global mean).
//   hard:  ℓ = logsumexp(z) − z[target]
//   soft:  ℓ = −Σ_i p_i · log softmax(z)[s_i]   (p = annotators' distribution over the labels)
// log-softmax subtracts the row maximum first, so logits of magnitude 1e4 do not overflow.
#pragma once

#include <torch/torch.h>

namespace tokenfocus::losses {

// logits [n,V] (float), target_token [n] int64 vocabulary ids -> [n].
torch::Tensor token_focus_hard_rows(const torch::Tensor& logits, const torch::Tensor& target_token);

// logits [n,V], label_ids [K] int64, target_dist [n,K] (rows sum to 1) -> [n].
torch::Tensor token_focus_soft_rows(const torch::Tensor& logits, const torch::Tensor& label_ids,
                                    const torch::Tensor& target_dist);

}  // namespace tokenfocus::losses
