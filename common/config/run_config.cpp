#include "common/config/run_config.h"

#include <set>

#include "common/error.h"

namespace tokenfocus::config {
namespace {

void validate_label_set(const LabelSetConfig& set, const std::string& path) {
  if (set.labels.empty()) throw_user_error("{}.labels: a label set needs at least one label", path);
  if (set.labels.size() != set.values.size())
    throw_user_error("{}: {} labels but {} values (one value per label)", path, set.labels.size(),
                     set.values.size());
}

}  // namespace

void RunConfig::validate() const {
  std::set<std::string> names;
  for (size_t i = 0; i < backbones.size(); ++i) {
    if (!names.insert(backbones[i].name).second)
      throw_user_error("backbones.{}.name: '{}' is used by two backbones (names must be unique)", i,
                       backbones[i].name);
  }
  validate_label_set(prompt.overall_labels, "prompt.overall_labels");
  for (size_t i = 0; i < backbones.size(); ++i)
    if (!backbones[i].overall_labels.labels.empty() || !backbones[i].overall_labels.values.empty())
      validate_label_set(backbones[i].overall_labels,
                         fmt::format("backbones.{}.overall_labels", i));
  validate_label_set(prompt.element_labels, "prompt.element_labels");
  for (int64_t fold : folds.only)
    if (fold >= folds.k)
      throw_user_error("folds.only: fold {} does not exist (folds.k = {})", fold, folds.k);
}

PromptConfig RunConfig::prompt_for(const BackboneConfig& b) const {
  PromptConfig own = prompt;
  if (!b.overall_question.empty()) own.overall_question = b.overall_question;
  if (!b.overall_labels.labels.empty()) own.overall_labels = b.overall_labels;
  return own;
}

ResolvedRunConfig load_run_config(const std::string& path,
                                  const std::vector<std::string>& overrides) {
  return resolve_file<RunConfig>(path, overrides);
}

}  // namespace tokenfocus::config
