#include "scoring/scores_json.h"

#include "common/error.h"

namespace tokenfocus::scoring {

nlohmann::ordered_json scores_json(const SampleScores& scores, const data::Record& record,
                                   const std::vector<std::string>& labels) {
  if (scores.label_probs.size() != labels.size())
    throw_internal_error("{} label probabilities for {} labels", scores.label_probs.size(),
                         labels.size());
  nlohmann::ordered_json out;
  out["score"] = scores.score;
  nlohmann::ordered_json q = nlohmann::ordered_json::object();
  for (size_t k = 0; k < labels.size(); ++k) q[labels[k]] = scores.label_probs[k];
  out["label_probs"] = q;
  if (!scores.element_probs.empty()) {
    if (scores.element_probs.size() != record.elements.size())
      throw_internal_error("{} element probabilities for {} elements of {}",
                           scores.element_probs.size(), record.elements.size(), record.img_path);
    nlohmann::ordered_json elements = nlohmann::ordered_json::object();
    for (size_t e = 0; e < record.elements.size(); ++e)
      elements[record.elements[e].key] = scores.element_probs[e];
    out["element_probs"] = elements;
  }
  return out;
}

}  // namespace tokenfocus::scoring
