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
  validate_label_set(prompt.element_labels, "prompt.element_labels");
  for (int64_t fold : folds.only)
    if (fold >= folds.k)
      throw_user_error("folds.only: fold {} does not exist (folds.k = {})", fold, folds.k);
}

ResolvedRunConfig load_run_config(const std::string& path,
                                  const std::vector<std::string>& overrides) {
  return resolve_file<RunConfig>(path, overrides);
}

}  // namespace tokenfocus::config
