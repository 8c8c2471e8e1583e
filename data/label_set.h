// Label sets (DESIGN.md §4): the answer words a question is scored over ("1".."5", "yes"/"no"),
// their numeric values and their single token ids in a backbone's tokenizer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config/sections/prompt.h"
#include "data/tokenizer.h"

namespace tokenfocus::data {

struct LabelSet {
  std::vector<std::string> labels;
  std::vector<double> values;
  std::vector<int64_t> token_ids;  // one per label
  // Per label: the other single-token ASCII case variants of the label ("Yes", "YES" for "yes")
  // when summing is on; each id appears once in the whole set. May be empty.
  std::vector<std::vector<int64_t>> variant_token_ids;
};

// UserError naming key_path (e.g. "prompt.overall_labels") when labels and values differ in length,
// there are fewer than two labels, two labels share a token, or a label is not exactly one token
// (the message shows how it tokenises).
LabelSet resolve_label_set(const Tokenizer& tokenizer, const config::LabelSetConfig& config,
                           bool sum_case_variants, const std::string& key_path);

}  // namespace tokenfocus::data
