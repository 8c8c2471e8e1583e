#include "scoring/batch_scores.h"

#include <algorithm>

#include "common/error.h"
#include "losses/readout.h"
#include "models/batch_tensors.h"

namespace tokenfocus::scoring {

std::vector<SampleScores> score_batch(models::Backbone& model, const data::Batch& batch,
                                      const losses::LabelHead& overall,
                                      const losses::LabelHead& element,
                                      const ReadoutOptions& options) {
  torch::NoGradGuard no_grad;
  const torch::Device device = model.lm_head_weight().device();
  // The read-out (K label rows, a softmax, an expectation) runs in float64: its own rounding then
  // adds nothing to what the forward's float32 gives, so scores of one item in differently padded
  // batches agree as closely as the forward lets them.
  const torch::Tensor hidden =
      models::hidden_at_batch(model, batch, options.forward_tokens).to(torch::kFloat64);
  const torch::Tensor weight = model.lm_head_weight();
  const size_t samples = batch.sample_keys.size();
  // Per sample: its overall row and its element rows (by element index).
  std::vector<int64_t> overall_row(samples, -1);
  std::vector<std::vector<std::pair<int64_t, int64_t>>> element_rows(samples);
  for (size_t row = 0; row < batch.sequences.size(); ++row) {
    const auto& seq = batch.sequences[row];
    if (seq.kind == data::QuestionKind::kOverall)
      overall_row[static_cast<size_t>(seq.sample)] = static_cast<int64_t>(row);
    else
      element_rows[static_cast<size_t>(seq.sample)].emplace_back(seq.element,
                                                                 static_cast<int64_t>(row));
  }
  const auto readout = losses::read_overall(hidden, weight, overall, options.temperature);
  const torch::Tensor p_yes = losses::element_probability(
      hidden, weight, element, options.temperature, options.sum_case_variants);
  // One copy each to the host, then plain indexing.
  const auto score = readout.score.to(torch::kCPU, torch::kFloat64).contiguous();
  const auto q = readout.distribution.to(torch::kCPU, torch::kFloat64).contiguous();
  const auto p = p_yes.to(torch::kCPU, torch::kFloat64).contiguous();
  const double* score_data = score.data_ptr<double>();
  const double* q_data = q.data_ptr<double>();
  const double* p_data = p.data_ptr<double>();
  const int64_t num_labels = q.size(1);

  std::vector<SampleScores> out(samples);
  for (size_t s = 0; s < samples; ++s) {
    const int64_t row = overall_row[s];
    if (row < 0)
      throw_internal_error("batch sample {} ({}) has no overall question", s, batch.sample_keys[s]);
    out[s].score = score_data[row];
    out[s].label_probs.assign(q_data + row * num_labels, q_data + (row + 1) * num_labels);
    auto rows = element_rows[s];
    std::sort(rows.begin(), rows.end());
    for (const auto& [e, r] : rows) out[s].element_probs.push_back(p_data[r]);
  }
  return out;
}

}  // namespace tokenfocus::scoring
