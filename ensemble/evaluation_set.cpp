#include "ensemble/evaluation_set.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "common/error.h"
#include "data/submission_reader.h"

namespace tokenfocus::ensemble {

EvaluationSet evaluation_set_from_records(std::vector<data::Record> records,
                                          const std::string& source) {
  // Stable, like Python's sorted(): equal img_paths (refused by read_records anyway) keep order.
  std::stable_sort(records.begin(), records.end(),
                   [](const auto& a, const auto& b) { return a.img_path < b.img_path; });
  EvaluationSet set;
  set.element_offsets.push_back(0);
  for (const auto& r : records) {
    if (!r.mos) throw_user_error("{}: record '{}' has no total_score", source, r.img_path);
    set.keys.push_back(r.img_path);
    set.prompts.push_back(r.prompt);
    set.score.push_back(*r.mos);
    for (const auto& e : r.elements) {
      if (!e.mean) {
        throw_user_error("{}: record '{}' element '{}' has no label", source, r.img_path, e.key);
      }
      set.element_keys.push_back(e.key);
      set.element_category.push_back(e.category);
      set.element.push_back(*e.mean);
    }
    set.element_offsets.push_back(set.element.size());
  }
  return set;
}

AlignedPrediction align_submission(const EvaluationSet& truth,
                                   const std::vector<data::Record>& submission,
                                   const std::string& source) {
  std::unordered_map<std::string, const data::Record*> by_path;
  for (const auto& r : submission) by_path.emplace(r.img_path, &r);
  if (submission.size() > truth.size()) {
    for (const auto& r : submission) {
      if (!std::binary_search(truth.keys.begin(), truth.keys.end(), r.img_path)) {
        throw_user_error("{}: record '{}' is not in the ground truth ({} records vs {})", source,
                         r.img_path, submission.size(), truth.size());
      }
    }
  }
  AlignedPrediction out;
  out.score.reserve(truth.size());
  out.element.reserve(truth.element.size());
  for (size_t i = 0; i < truth.size(); ++i) {
    const auto it = by_path.find(truth.keys[i]);
    if (it == by_path.end()) {
      throw_user_error(
          "{}: no prediction for img_path '{}' ({} of {} ground-truth records "
          "present)",
          source, truth.keys[i], submission.size(), truth.size());
    }
    const data::Record& r = *it->second;
    if (!r.mos || !std::isfinite(*r.mos)) {
      throw_user_error("{}: record '{}' has no finite total_score", source, r.img_path);
    }
    out.score.push_back(*r.mos);
    for (size_t e = truth.element_offsets[i]; e < truth.element_offsets[i + 1]; ++e) {
      const auto& key = truth.element_keys[e];
      const auto found = std::find_if(r.elements.begin(), r.elements.end(),
                                      [&](const data::Element& el) { return el.key == key; });
      if (found == r.elements.end()) {
        throw_user_error("{}: record '{}' has no element_score for '{}'", source, r.img_path, key);
      }
      if (!found->mean || !std::isfinite(*found->mean)) {
        throw_user_error("{}: record '{}' element '{}' is not a finite number", source, r.img_path,
                         key);
      }
      out.element.push_back(*found->mean);
    }
  }
  return out;
}

Metrics evaluate(const EvaluationSet& truth, const AlignedPrediction& prediction,
                 PlccDirection direction) {
  return compute_metrics(truth.score, prediction.score, truth.element, prediction.element,
                         direction);
}

Metrics evaluate_files(const std::string& submission_path, const std::string& truth_path,
                       PlccDirection direction) {
  const auto truth = evaluation_set_from_records(data::read_records(truth_path), truth_path);
  if (truth.size() < 2) throw_user_error("{}: need at least 2 records to score", truth_path);
  const auto prediction =
      align_submission(truth, data::read_submission(submission_path), submission_path);
  return evaluate(truth, prediction, direction);
}

}  // namespace tokenfocus::ensemble
