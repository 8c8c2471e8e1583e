#include "data/batch_builder.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include <fmt/ranges.h>

#include "common/error.h"

namespace tokenfocus::data {
namespace {

// Target token / distribution / value of one question; unknown targets stay -1 / empty / NaN.
void set_targets(BatchSequence& s, const LabelSet& labels, const std::vector<double>& annotators,
                 std::optional<double> mean, bool soft) {
  if (!mean) {
    s.target_token = -1;
    s.target_value = std::numeric_limits<double>::quiet_NaN();
    return;
  }
  s.target_value = *mean;
  s.target_token = labels.token_ids[static_cast<size_t>(nearest_label(labels.values, *mean))];
  s.target_distribution = target_distribution(labels.values, annotators, *mean, soft);
}

}  // namespace

int64_t nearest_label(const std::vector<double>& label_values, double value) {
  int64_t best = -1;
  for (size_t i = 0; i < label_values.size(); ++i) {
    if (best < 0) {
      best = static_cast<int64_t>(i);
      continue;
    }
    const double d = std::abs(label_values[i] - value), bd = std::abs(label_values[best] - value);
    if (d < bd || (d == bd && label_values[i] > label_values[best])) best = static_cast<int64_t>(i);
  }
  if (best < 0) throw_internal_error("nearest_label: empty label set");
  return best;
}

std::vector<float> target_distribution(const std::vector<double>& label_values,
                                       const std::vector<double>& annotators, double mean,
                                       bool soft) {
  std::vector<float> p(label_values.size(), 0.0f);
  if (!soft) {
    p[static_cast<size_t>(nearest_label(label_values, mean))] = 1.0f;
    return p;
  }
  if (!annotators.empty()) {
    for (double a : annotators) p[static_cast<size_t>(nearest_label(label_values, a))] += 1.0f;
    for (auto& x : p) x /= static_cast<float>(annotators.size());
    return p;
  }
  // Only a mean: split it between the bracketing labels (clamped to the label range).
  int64_t below = -1, above = -1;
  for (size_t i = 0; i < label_values.size(); ++i) {
    const double v = label_values[i];
    if (v <= mean && (below < 0 || v > label_values[below])) below = static_cast<int64_t>(i);
    if (v >= mean && (above < 0 || v < label_values[above])) above = static_cast<int64_t>(i);
  }
  if (below < 0 || above < 0 || below == above) {
    p[static_cast<size_t>(nearest_label(label_values, mean))] = 1.0f;
    return p;
  }
  const double lo = label_values[below], hi = label_values[above];
  const double w = (mean - lo) / (hi - lo);
  p[static_cast<size_t>(above)] = static_cast<float>(w);
  p[static_cast<size_t>(below)] = static_cast<float>(1.0 - w);
  return p;
}

void check_soft_target(const SoftTarget& target, const LabelSet& labels) {
  if (target.label_values != labels.values)
    throw_user_error(
        "its pseudo-label is over label values [{}], the overall label set has [{}] "
        "(data.pseudo_labels must come from a teacher with the same label values)",
        fmt::join(target.label_values, ", "), fmt::join(labels.values, ", "));
}

BatchBuilderOptions BatchBuilderOptions::for_prompt(const config::PromptConfig& prompt,
                                                    ChatTemplateKind chat_template) {
  BatchBuilderOptions options;
  options.chat_template = chat_template;
  options.system_message = prompt.system_message;
  options.overall_question = prompt.overall_question;
  options.element_question = prompt.element_question;
  options.element_questions = prompt.element_questions;
  options.packing.enabled = prompt.packing;
  options.packing.packed_row_tokens = prompt.packed_row_tokens;
  return options;
}

BatchBuilder::BatchBuilder(const std::vector<Record>& records, const ImageProcessor& processor,
                           const Tokenizer& tokenizer, const LabelSet& overall_labels,
                           const LabelSet& element_labels, BatchBuilderOptions options)
    : records_(records),
      processor_(processor),
      tokenizer_(tokenizer),
      overall_labels_(overall_labels),
      element_labels_(element_labels),
      options_(std::move(options)) {
  const auto pad = tokenizer.token_id("<|endoftext|>");
  if (!pad) throw_user_error("{}: no <|endoftext|> token to pad batches with", tokenizer.name());
  pad_id_ = *pad;
}

std::string BatchBuilder::element_question(const Element& element) const {
  std::string question = fill_question(options_.element_question, "element", element.name);
  // "{category}" is optional: "Does this image show \"red\" (a color)?" (iMatch's element-category
  // prompts). An element without a category fills it with "".
  if (question.find("{category}") != std::string::npos)
    question = fill_question(question, "category", element.category);
  return question;
}

PreparedSample BatchBuilder::prepare(const Record& record, int64_t record_index,
                                     const RgbImage& image) const {
  PreparedSample sample;
  sample.key = record.img_path;
  sample.record_index = record_index;
  ProcessedImage processed = processor_.process(image);
  sample.image =
      BatchImage{std::move(processed.pixel_values), std::move(processed.shape), processed.grid_thw};
  auto add = [&](QuestionKind kind, int64_t element,
                 const std::string& question) -> BatchSequence& {
    const auto vqa = build_vqa_sequence(tokenizer_, options_.chat_template, question,
                                        processed.num_image_tokens, options_.system_message);
    PreparedSample::Question q;
    q.sequence.kind = kind;
    q.sequence.element = element;
    q.ids = vqa.input_ids;
    q.query_position = vqa.query_position;
    sample.questions.push_back(std::move(q));
    return sample.questions.back().sequence;
  };
  auto& overall = add(QuestionKind::kOverall, -1,
                      fill_question(options_.overall_question, "prompt", record.prompt));
  set_targets(overall, overall_labels_, record.annotator_scores, record.mos, options_.soft_targets);
  if (!record.overall_target.probabilities.empty() && options_.soft_targets) {
    // A pseudo-label from a store: the teacher's own q is the soft target.
    check_soft_target(record.overall_target, overall_labels_);
    overall.target_distribution.assign(record.overall_target.probabilities.begin(),
                                       record.overall_target.probabilities.end());
  }
  if (options_.training_weights) overall.weight = record.weight;
  if (options_.element_questions) {
    for (size_t e = 0; e < record.elements.size(); ++e) {
      const Element& element = record.elements[e];
      const double weight = record.weight * element.weight;
      if (options_.training_weights && weight == 0) continue;
      auto& s = add(QuestionKind::kElement, static_cast<int64_t>(e), element_question(element));
      // Annotators' 0/1 labels are already label values of yes (1) / no (0).
      set_targets(s, element_labels_, element.labels, element.mean, options_.soft_targets);
      if (options_.training_weights) s.weight = weight;
    }
  }
  return sample;
}

Batch BatchBuilder::build(const std::vector<int64_t>& record_indices) const {
  std::vector<PreparedSample> samples;
  samples.reserve(record_indices.size());
  for (int64_t index : record_indices) {
    if (index < 0 || index >= static_cast<int64_t>(records_.size()))
      throw_internal_error("batch builder: record index {} outside [0, {})", index,
                           records_.size());
    const Record& record = records_[static_cast<size_t>(index)];
    samples.push_back(in_record_context(index, record, [&] {
      const auto path = (std::filesystem::path(options_.image_root) / record.img_path).string();
      return prepare(record, index, decode_image_file(path));
    }));
  }
  return collate(std::move(samples));
}

Batch BatchBuilder::collate(std::vector<PreparedSample> samples) const {
  return collate_samples(std::move(samples), pad_id_, options_.packing);
}

}  // namespace tokenfocus::data
