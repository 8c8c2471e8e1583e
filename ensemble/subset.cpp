#include "ensemble/subset.h"

namespace tokenfocus::ensemble {

EvaluationSet subset(const EvaluationSet& set, const std::vector<size_t>& rows) {
  EvaluationSet out;
  out.element_offsets.push_back(0);
  for (size_t r : rows) {
    out.keys.push_back(set.keys[r]);
    out.prompts.push_back(set.prompts[r]);
    out.score.push_back(set.score[r]);
    for (size_t e = set.element_offsets[r]; e < set.element_offsets[r + 1]; ++e) {
      out.element_keys.push_back(set.element_keys[e]);
      out.element_category.push_back(set.element_category[e]);
      out.element.push_back(set.element[e]);
    }
    out.element_offsets.push_back(out.element.size());
  }
  return out;
}

std::vector<size_t> element_indices(const EvaluationSet& set, const std::vector<size_t>& rows) {
  std::vector<size_t> out;
  for (size_t r : rows)
    for (size_t e = set.element_offsets[r]; e < set.element_offsets[r + 1]; ++e) out.push_back(e);
  return out;
}

std::vector<double> subset_elements(const EvaluationSet& set, const std::vector<double>& values,
                                    const std::vector<size_t>& rows) {
  std::vector<double> out;
  for (size_t e : element_indices(set, rows)) out.push_back(values[e]);
  return out;
}

std::vector<double> subset_rows(const std::vector<double>& values,
                                const std::vector<size_t>& rows) {
  std::vector<double> out;
  out.reserve(rows.size());
  for (size_t r : rows) out.push_back(values[r]);
  return out;
}

AlignedPrediction subset(const EvaluationSet& set, const AlignedPrediction& prediction,
                         const std::vector<size_t>& rows) {
  return {subset_rows(prediction.score, rows), subset_elements(set, prediction.element, rows)};
}

}  // namespace tokenfocus::ensemble
