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
  // Each label's log-mass is the log-sum-exp over its own id and its variants. The logits are
  // shifted by their row maximum FIRST: group log-masses then stay O(1), where float32 would round
  // (1e4 + log 2) to 2^-10.
  std::vector<torch::Tensor> ids{head.token_ids};
  std::vector<int64_t> group_sizes;
  for (int64_t i = 0; i < head.size(); ++i) {
    const bool any = head.variants[i].defined() && head.variants[i].numel() > 0;
    if (any) ids.push_back(head.variants[i].to(head.token_ids.device()));
    group_sizes.push_back(1 + (any ? head.variants[i].numel() : 0));
  }
  auto z = label_logits(hidden, lm_head_weight, torch::cat(ids)) / temperature;
  z = z - std::get<0>(z.detach().max(/*dim=*/1, /*keepdim=*/true));
  std::vector<torch::Tensor> group_log_mass;
  int64_t variant_column = head.size();
  for (int64_t i = 0; i < head.size(); ++i) {
    auto columns = z.narrow(1, i, 1);
    if (group_sizes[i] > 1) {
      columns = torch::cat({columns, z.narrow(1, variant_column, group_sizes[i] - 1)}, 1);
      variant_column += group_sizes[i] - 1;
    }
    group_log_mass.push_back(torch::logsumexp(columns, /*dim=*/1));
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
