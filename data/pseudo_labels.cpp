#include "data/pseudo_labels.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <unordered_set>

#include "common/error.h"
#include "data/prediction_store.h"
#include "data/submission_reader.h"

namespace tokenfocus::data {
namespace {

namespace fs = std::filesystem;

// A teacher's prediction for one sample.
struct Teaching {
  double score = 0;
  std::vector<double> q;  // over `Teacher::label_values`; empty for a submission
  std::vector<std::string> element_keys;
  std::vector<double> element_prob;
};

struct Teacher {
  std::vector<double> label_values;  // empty for a submission
  std::map<std::string, Teaching> by_key;
};

// The test rows of stores, averaged over them (one store: its own rows).
Teacher teacher_from_stores(const std::vector<FoldPredictions>& folds,
                            const std::vector<double>& label_values, const std::string& source) {
  Teacher teacher;
  teacher.label_values = label_values;
  for (const auto& fold : folds) {
    const PredictionSet& p = fold.test;
    if (p.size() == 0) throw_user_error("{}: fold {} holds no test predictions", source, fold.fold);
    for (size_t i = 0; i < p.size(); ++i) {
      const auto first = static_cast<size_t>(p.element_offsets[i]);
      const auto last = static_cast<size_t>(p.element_offsets[i + 1]);
      const std::vector<std::string> keys(p.element_keys.begin() + first,
                                          p.element_keys.begin() + last);
      const std::vector<double> probs(p.element_prob.begin() + first,
                                      p.element_prob.begin() + last);
      const std::vector<double> q(
          p.label_probs.begin() + static_cast<std::ptrdiff_t>(i * p.num_labels),
          p.label_probs.begin() + static_cast<std::ptrdiff_t>((i + 1) * p.num_labels));
      // The first fold's row starts the sums; later folds must predict the same elements.
      auto [it, first_fold] = teacher.by_key.emplace(
          p.keys[i],
          Teaching{0, std::vector<double>(q.size()), keys, std::vector<double>(probs.size())});
      Teaching& t = it->second;
      if (!first_fold && t.element_keys != keys)
        throw_user_error("{}: sample '{}' has other elements in fold {}", source, p.keys[i],
                         fold.fold);
      const double n = static_cast<double>(folds.size());
      t.score += p.score[i] / n;
      for (size_t k = 0; k < q.size(); ++k) t.q[k] += q[k] / n;
      for (size_t e = 0; e < probs.size(); ++e) t.element_prob[e] += probs[e] / n;
    }
  }
  return teacher;
}

Teacher read_teacher(const std::string& path) {
  std::error_code error;
  if (fs::is_directory(path, error)) {
    const BackboneStore store = read_backbone_store(path);
    if (store.folds.empty()) throw_user_error("{}: no fold<k>.h5 predictions store in it", path);
    return teacher_from_stores(store.folds, store.header.label_values, path);
  }
  if (!fs::exists(path, error))
    throw_user_error("data.pseudo_labels.predictions: {} does not exist", path);
  if (fs::path(path).extension() == ".h5") {
    StoreHeader header;
    const FoldPredictions fold = read_fold_predictions(path, &header);
    return teacher_from_stores({fold}, header.label_values, path);
  }
  Teacher teacher;
  for (const Record& r : read_submission(path)) {
    Teaching t;
    t.score = r.mos.value_or(0.0);
    for (const auto& e : r.elements) {
      t.element_keys.push_back(e.key);
      t.element_prob.push_back(e.mean.value_or(0.0));
    }
    teacher.by_key.emplace(r.img_path, std::move(t));
  }
  return teacher;
}

}  // namespace

PseudoLabels read_pseudo_labels(const config::PseudoLabelsConfig& config,
                                const std::string& records_path) {
  if (records_path.empty())
    throw_user_error(
        "data.pseudo_labels: no unlabelled records to label (set data.pseudo_labels.records or "
        "data.test_records)");
  const Teacher teacher = read_teacher(config.predictions);
  const bool from_submission = teacher.label_values.empty();
  if (from_submission && config.min_confidence > 0)
    throw_user_error(
        "data.pseudo_labels.min_confidence: {} is a submission, which has no label probabilities "
        "to be confident with; use a predictions store (RUN/predictions/<backbone>) or set it to 0",
        config.predictions);

  PseudoLabels out;
  std::vector<Record> unlabelled = read_records(records_path);
  out.unlabelled = static_cast<int64_t>(unlabelled.size());
  for (size_t i = 0; i < unlabelled.size(); ++i) {
    Record& r = unlabelled[i];
    const std::string where =
        fmt::format("{}: record {} (img_path \"{}\")", records_path, i, r.img_path);
    bool labelled = r.mos.has_value();
    for (const auto& e : r.elements) labelled = labelled || e.mean.has_value();
    if (labelled)
      throw_user_error("{}: has labels; data.pseudo_labels.records must hold unlabelled records",
                       where);
    const auto it = teacher.by_key.find(r.img_path);
    if (it == teacher.by_key.end())
      throw_user_error("{}: {} holds no prediction for it", where, config.predictions);
    const Teaching& t = it->second;
    std::vector<std::string> keys;
    for (const auto& e : r.elements) keys.push_back(e.key);
    if (keys != t.element_keys)
      throw_user_error("{}: its {} element(s) differ from the {} that {} predicted", where,
                       keys.size(), t.element_keys.size(), config.predictions);
    if (!t.q.empty() && *std::max_element(t.q.begin(), t.q.end()) < config.min_confidence) {
      ++out.left_out;
      continue;
    }
    r.mos = t.score;
    r.weight = config.weight;
    r.pseudo_labelled = true;
    if (!t.q.empty()) r.overall_target = SoftTarget{teacher.label_values, t.q};
    for (size_t e = 0; e < r.elements.size(); ++e) {
      const double p = t.element_prob[e];
      r.elements[e].mean = p;
      const bool confident = std::max(p, 1.0 - p) >= config.min_confidence;
      r.elements[e].weight = confident ? 1.0 : 0.0;
      ++(confident ? out.elements : out.elements_left_out);
    }
    out.records.push_back(std::move(r));
  }
  return out;
}

void check_disjoint(const std::vector<Record>& labelled, const std::vector<Record>& pseudo,
                    const std::string& labelled_path) {
  std::unordered_set<std::string> keys;
  for (const auto& r : labelled) keys.insert(r.img_path);
  for (const auto& r : pseudo)
    if (keys.count(r.img_path))
      throw_user_error(
          "data.pseudo_labels: '{}' is also a labelled record of {}: a sample cannot be both "
          "(it would train on its own prediction and could be evaluated on it)",
          r.img_path, labelled_path);
}

}  // namespace tokenfocus::data
