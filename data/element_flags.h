// `data.element_flags`: EvalMuse's per-record annotation flags (promt_meaningless,
// split_confidence, attribute_confidence) as the weights of a record's element questions in
// training, or as filters (weight 0: the question is not asked in training). Predictions ask every
// element regardless.
#pragma once

#include <cstdint>
#include <vector>

#include "common/config/sections/data.h"
#include "data/records.h"

namespace tokenfocus::data {

struct ElementFlagCounts {
  int64_t weighted = 0;  // element questions whose weight a rule changed (to a value above 0)
  int64_t dropped = 0;   // element questions a rule set to weight 0
};

// Multiplies each element's weight by the weight of every rule its record matches.
ElementFlagCounts apply_element_flags(std::vector<Record>& records,
                                      const std::vector<config::ElementFlagRule>& rules);

}  // namespace tokenfocus::data
