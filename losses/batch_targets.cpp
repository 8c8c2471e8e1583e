#include "losses/batch_targets.h"

#include <algorithm>
#include <string>

#include "common/error.h"

namespace tokenfocus::losses {

LabelHead label_head_from(const data::LabelSet& labels) {
  return LabelHead::from_vectors(labels.token_ids, labels.values, labels.variant_token_ids);
}

QuestionTargets question_targets_from(const data::Batch& batch, const LabelHead& overall,
                                      const LabelHead& element) {
  const int64_t q = batch.num_sequences();
  const int64_t width = std::max(overall.size(), element.size());
  QuestionTargets targets;
  targets.is_element = torch::zeros({q}, torch::kBool);
  targets.target_token = torch::empty({q}, torch::kInt64);
  targets.target_dist = torch::zeros({q, width}, torch::kFloat);
  targets.target_value = torch::empty({q}, torch::kFloat64);
  targets.weight = torch::empty({q}, torch::kFloat);
  auto is_element = targets.is_element.accessor<bool, 1>();
  auto token = targets.target_token.accessor<int64_t, 1>();
  auto dist = targets.target_dist.accessor<float, 2>();
  auto value = targets.target_value.accessor<double, 1>();
  auto weight = targets.weight.accessor<float, 1>();
  for (int64_t i = 0; i < q; ++i) {
    const auto& sequence = batch.sequences[i];
    const bool element_question = sequence.kind == data::QuestionKind::kElement;
    const int64_t k = element_question ? element.size() : overall.size();
    auto where = [&] {
      const auto sample =
          sequence.sample >= 0 && sequence.sample < static_cast<int64_t>(batch.sample_keys.size())
              ? batch.sample_keys[sequence.sample]
              : std::string("?");
      return element_question
                 ? "sample '" + sample + "' element " + std::to_string(sequence.element)
                 : "sample '" + sample + "' overall question";
    };
    if (sequence.target_token < 0 || sequence.target_distribution.empty())
      throw_user_error("{}: no training target (a record without scores in a training batch?)",
                       where());
    if (static_cast<int64_t>(sequence.target_distribution.size()) != k)
      throw_user_error("{}: target distribution over {} labels, but the label set has {}", where(),
                       sequence.target_distribution.size(), k);
    is_element[i] = element_question;
    token[i] = sequence.target_token;
    for (int64_t j = 0; j < k; ++j) dist[i][j] = sequence.target_distribution[j];
    value[i] = sequence.target_value;
    if (!(sequence.weight >= 0)) throw_internal_error("{}: weight {}", where(), sequence.weight);
    weight[i] = static_cast<float>(sequence.weight);
  }
  return targets;
}

}  // namespace tokenfocus::losses
