// One sample's scores as the JSON that `score` writes per line and `serve` returns per item:
// {"score": ŝ, "label_probs": {label: q}, "element_probs": {element key: P(yes)}} (element_probs
// only when there are element scores).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/records.h"
#include "scoring/batch_scores.h"

namespace tokenfocus::scoring {

nlohmann::ordered_json scores_json(const SampleScores& scores, const data::Record& record,
                                   const std::vector<std::string>& labels);

}  // namespace tokenfocus::scoring
