// Turns records into model-ready batches (data/batch.h): decode + process each sample's image
// once, ask the overall question and one yes/no question per prompt element in the backbone's chat
// template, left-pad the sequences and attach the targets.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/config/sections/prompt.h"
#include "common/error.h"
#include "data/batch.h"
#include "data/chat_template.h"
#include "data/collate.h"
#include "data/image.h"
#include "data/image_processor.h"
#include "data/label_set.h"
#include "data/records.h"
#include "data/tokenizer.h"

namespace tokenfocus::data {

struct BatchBuilderOptions {
  std::string image_root;  // img_path values are relative to it
  ChatTemplateKind chat_template = ChatTemplateKind::kQwen2VL;
  SystemMessage system_message;  // unset: the template's default (prompt.system_message)
  std::string overall_question = config::PromptConfig{}.overall_question;  // "{prompt}" placeholder
  std::string element_question =
      config::PromptConfig{}.element_question;  // "{element}", optionally "{category}"
  bool element_questions = true;
  bool soft_targets = true;
  // Training batches: each question carries its weight (the record's times the element's) and
  // questions of weight 0 are not asked. Off (predictions): every question, weight 1.
  bool training_weights = false;
  // How collate lays out rows (data/collate.h): packed by default, as prompt.packing.
  PackingOptions packing;

  // The questions, system message, packing and template of `prompt` for a backbone whose chat
  // template is `chat_template`; image_root and soft_targets keep their defaults.
  static BatchBuilderOptions for_prompt(const config::PromptConfig& prompt,
                                        ChatTemplateKind chat_template);
};

// Runs `step` for record `index`; a UserError or InternalError it throws comes back with
// "record <i> (img_path "...")" in front of its message, as BatchBuilder::build reports them.
template <class Step>
decltype(auto) in_record_context(int64_t index, const Record& record, Step&& step) {
  try {
    return step();
  } catch (const UserError& e) {
    throw UserError(
        fmt::format("record {} (img_path \"{}\"): {}", index, record.img_path, e.what()));
  } catch (const InternalError& e) {
    throw InternalError(
        fmt::format("record {} (img_path \"{}\"): {}", index, record.img_path, e.what()));
  }
}

// Targets of one question over its label set S (values v_1..v_k):
// - hard: one-hot at the label whose value is nearest to the target value (ties: the larger).
// - soft, with annotators' values: their histogram after rounding each to the nearest label value.
// - soft, with only a mean (ground-truth floats, element means): the mean split between the two
//   labels that bracket it, so the distribution's expected value equals the mean; for yes/no that
//   is (mean, 1 - mean).
std::vector<float> target_distribution(const std::vector<double>& label_values,
                                       const std::vector<double>& annotators, double mean,
                                       bool soft);
// UserError unless a teacher's distribution (data.pseudo_labels) is over `labels`' values: it can
// then stand in as the soft target of the overall question.
void check_soft_target(const SoftTarget& target, const LabelSet& labels);

// Index of the label whose value is nearest to `value` (ties: the larger value).
int64_t nearest_label(const std::vector<double>& label_values, double value);

class BatchBuilder {
 public:
  // Keeps references to records, processor, tokenizer and label sets: they must outlive it.
  // UserError when the tokenizer has no <|endoftext|> pad token.
  BatchBuilder(const std::vector<Record>& records, const ImageProcessor& processor,
               const Tokenizer& tokenizer, const LabelSet& overall_labels,
               const LabelSet& element_labels, BatchBuilderOptions options);

  // The batch of these record indices (thread-safe). An error while reading, decoding or tokenising
  // a sample is re-thrown with "record <i> (img_path "...")" in front of its message.
  Batch build(const std::vector<int64_t>& record_indices) const;

  // The steps of build, for callers that decode elsewhere (serve: base64 bodies) or prepare samples
  // on other threads. prepare: process the already decoded image of `record` and tokenise its
  // questions (thread-safe; errors are not prefixed with the record). collate: left-pad samples,
  // in order, into one batch (packed or not, as the options say).
  PreparedSample prepare(const Record& record, int64_t record_index, const RgbImage& image) const;
  Batch collate(std::vector<PreparedSample> samples) const;

  int64_t pad_id() const { return pad_id_; }

 private:
  std::string element_question(const Element& element) const;

  const std::vector<Record>& records_;
  const ImageProcessor& processor_;
  const Tokenizer& tokenizer_;
  const LabelSet& overall_labels_;
  const LabelSet& element_labels_;
  BatchBuilderOptions options_;
  int64_t pad_id_ = 0;
};

}  // namespace tokenfocus::data
