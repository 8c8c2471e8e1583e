// `prompt:` — the VQA questions and label sets of DESIGN.md §4.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/config/check.h"

namespace tokenfocus::config {

struct LabelSetConfig {
  std::vector<std::string> labels;  // each must be one token of the backbone's tokenizer
  std::vector<double> values;       // same length as labels
  template <class V>
  void describe(V& v) {
    v("labels", labels);
    v("values", values);
  }
};

struct PromptConfig {
  std::string overall_question =
      "Does this image match the description \"{prompt}\"? Rate the match from 1 (not at all) to 5 "
      "(perfectly). Answer with one digit.";
  // "{element}" is the element's name ("red car"); "{category}", optional, its category
  // ("color"): e.g. "Does this image show \"{element}\" (a {category})? Answer yes or no."
  std::string element_question = "Does this image show \"{element}\"? Answer yes or no.";
  LabelSetConfig overall_labels{{"1", "2", "3", "4", "5"}, {1, 2, 3, 4, 5}};
  LabelSetConfig element_labels{{"yes", "no"}, {1, 0}};
  bool sum_case_variants = true;  // P(yes) includes "Yes"/"YES" when they are single tokens
  bool element_questions = true;  // ask one yes/no question per prompt element
  // Shared-prefix packing (docs/training.md#packing): one decoder row per sample, its questions
  // as branches after the tokens they share. Exact: the logits are those of a row per question.
  bool packing = true;
  // > 0: a packed row longer than this many tokens splits its questions over several rows that
  // each repeat the shared tokens. 0 = one row per sample.
  int64_t packed_row_tokens = 0;
  // The chat template's system turn: unset = the backbone's own default message, "" = none.
  std::optional<std::string> system_message;
  template <class V>
  void describe(V& v) {
    v("overall_question", overall_question);
    v("element_question", element_question);
    v("overall_labels", overall_labels);
    v("element_labels", element_labels);
    v("sum_case_variants", sum_case_variants);
    v("element_questions", element_questions);
    v("system_message", system_message);
    v("packing", packing);
    v("packed_row_tokens", packed_row_tokens, at_least(0));
  }
};

}  // namespace tokenfocus::config
