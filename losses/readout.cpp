#include "losses/readout.h"

#include <vector>

#include "losses/focus_logits.h"
#include "losses/position_specific_term.h"
#include "losses/regression_term.h"

namespace tokenfocus::losses {

torch::Tensor label_distribution(const torch::Tensor& hidden, const torch::Tensor& lm_head_weight,
                                 const LabelHead& head, double temperature, bool sum_variants) {
  if (!sum_variants || !head.has_variants())
    return label_log_distribution(label_logits(hidden, lm_head_weight, head.token_ids), temperature)
        .exp();
  // Each label's log-mass is the log-sum-exp over its own id and its variants.
  std::vector<torch::Tensor> group_log_mass;
  for (int64_t i = 0; i < head.size(); ++i) {
    auto ids = head.token_ids.narrow(0, i, 1);
    if (head.variants[i].defined() && head.variants[i].numel() > 0)
      ids = torch::cat({ids, head.variants[i].to(ids.device())});
    const auto z = label_logits(hidden, lm_head_weight, ids) / temperature;
    group_log_mass.push_back(torch::logsumexp(z, /*dim=*/1));
  }
  return torch::softmax(torch::stack(group_log_mass, 1), /*dim=*/1);
}

ScoreReadout read_overall(const torch::Tensor& hidden, const torch::Tensor& lm_head_weight,
                          const LabelHead& head, double temperature) {
  ScoreReadout readout;
  readout.distribution = label_distribution(hidden, lm_head_weight, head, temperature, false);
  readout.score = expected_score(readout.distribution, head.values);
  return readout;
}

torch::Tensor element_probability(const torch::Tensor& hidden, const torch::Tensor& lm_head_weight,
                                  const LabelHead& yes_no, double temperature, bool sum_variants) {
  const auto q = label_distribution(hidden, lm_head_weight, yes_no, temperature, sum_variants);
  return expected_score(q, yes_no.values);
}

torch::Tensor zero_shot_yes_probability(const torch::Tensor& hidden,
                                        const torch::Tensor& lm_head_weight,
                                        const torch::Tensor& yes_ids) {
  const auto log_probs = torch::log_softmax(vocabulary_logits(hidden, lm_head_weight), /*dim=*/1);
  return torch::logsumexp(log_probs.index_select(1, yes_ids.to(log_probs.device())), /*dim=*/1)
      .exp();
}

}  // namespace tokenfocus::losses
