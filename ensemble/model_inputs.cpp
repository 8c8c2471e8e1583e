#include "ensemble/model_inputs.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "common/error.h"
#include "common/log.h"

namespace tokenfocus::ensemble {
namespace {

struct SampleRef {
  const data::PredictionSet* set;
  size_t index;
  int fold;
};

void check_finite(double v, const std::string& model, const std::string& what,
                  const std::string& key) {
  if (!std::isfinite(v)) {
    throw_user_error("predictions of backbone '{}' contain {} for sample '{}' ({})", model,
                     std::isnan(v) ? "NaN" : "an infinite value", key, what);
  }
}

// Appends sample `ref`'s score, q and the probabilities of `element_keys` (looked up by key).
void append_sample(const SampleRef& ref, const std::string& model, const std::string& key,
                   const std::vector<std::string>& element_keys, ModelTable& table) {
  const auto& s = *ref.set;
  const size_t i = ref.index;
  check_finite(s.score[i], model, "score", key);
  table.score.push_back(s.score[i]);
  for (int64_t k = 0; k < s.num_labels; ++k) {
    const double q = s.label_probs[i * s.num_labels + k];
    check_finite(q, model, "label distribution", key);
    table.label_probs.push_back(q);
  }
  const auto begin = static_cast<size_t>(s.element_offsets[i]);
  const auto end = static_cast<size_t>(s.element_offsets[i + 1]);
  for (const auto& wanted : element_keys) {
    size_t e = begin;
    while (e < end && s.element_keys[e] != wanted) ++e;
    if (e == end) {
      throw_user_error("backbone '{}' has no prediction for element '{}' of sample '{}'", model,
                       wanted, key);
    }
    check_finite(s.element_prob[e], model, "element '" + wanted + "'", key);
    table.element.push_back(s.element_prob[e]);
  }
}

std::vector<std::string> element_keys_of(const data::Record& r) {
  std::vector<std::string> keys;
  for (const auto& e : r.elements) keys.push_back(e.key);
  return keys;
}

// Averages fold tables element-wise (bagging).
ModelTable mean_of(const std::vector<ModelTable>& tables) {
  ModelTable out = tables.front();
  for (size_t t = 1; t < tables.size(); ++t) {
    for (size_t i = 0; i < out.score.size(); ++i) out.score[i] += tables[t].score[i];
    for (size_t i = 0; i < out.label_probs.size(); ++i)
      out.label_probs[i] += tables[t].label_probs[i];
    for (size_t i = 0; i < out.element.size(); ++i) out.element[i] += tables[t].element[i];
  }
  const double n = static_cast<double>(tables.size());
  for (auto& v : out.score) v /= n;
  for (auto& v : out.label_probs) v /= n;
  for (auto& v : out.element) v /= n;
  return out;
}

}  // namespace

EnsembleInputs build_ensemble_inputs(const std::vector<data::BackboneStore>& stores,
                                     const std::vector<data::Record>& train_records,
                                     const std::vector<data::Record>& test_records,
                                     bool allow_mixed_configs) {
  if (stores.empty()) throw_user_error("no predictions stores to ensemble");
  EnsembleInputs in;
  const auto& first = stores.front().header;
  in.labels = first.labels;
  in.label_values = first.label_values;
  in.config_hash = first.config_hash;
  for (const auto& store : stores) {
    const auto& h = store.header;
    // The words may differ per backbone (digits for one, rating words for another); the values
    // are the scale of ŝ and the columns of q that stacking puts side by side.
    if (h.label_values != first.label_values) {
      throw_user_error(
          "backbones '{}' and '{}' use label sets of different values ([{}] vs [{}]): their "
          "scores are on different scales and their label distributions cannot be stacked",
          first.backbone, h.backbone, fmt::join(first.label_values, ","),
          fmt::join(h.label_values, ","));
    }
    if (h.config_hash != first.config_hash && allow_mixed_configs) {
      log::warn(
          "ensemble: backbones '{}' and '{}' come from different run configs (hash {} vs "
          "{}); accepted because ensemble.allow_mixed_configs is set",
          first.backbone, h.backbone, first.config_hash.substr(0, 12), h.config_hash.substr(0, 12));
    } else if (h.config_hash != first.config_hash) {
      throw_user_error(
          "backbones '{}' and '{}' come from different run configs (hash {} vs {}); "
          "ensemble the stores of one run (or set ensemble.allow_mixed_configs: true)",
          first.backbone, h.backbone, first.config_hash.substr(0, 12), h.config_hash.substr(0, 12));
    }
    if (store.folds.empty()) throw_user_error("backbone '{}' has no fold predictions", h.backbone);
  }

  // Element predictions: all backbones have them, or none (a run without element questions).
  auto predicts_elements = [](const data::BackboneStore& store) {
    for (const auto& fold : store.folds)
      if (!fold.oof.element_keys.empty() || !fold.test.element_keys.empty()) return true;
    return false;
  };
  in.has_elements = predicts_elements(stores.front());
  for (const auto& store : stores)
    if (predicts_elements(store) != in.has_elements)
      throw_user_error(
          "backbone '{}' {} element probabilities but '{}' {}: train them with the same "
          "prompt.element_questions",
          store.header.backbone, in.has_elements ? "has no" : "has", first.backbone,
          in.has_elements ? "has" : "has none");

  // Out-of-fold rows per backbone, keyed by img_path; each sample held out exactly once.
  std::vector<std::unordered_map<std::string, SampleRef>> oof(stores.size());
  for (size_t m = 0; m < stores.size(); ++m) {
    for (const auto& fold : stores[m].folds) {
      for (size_t i = 0; i < fold.oof.size(); ++i) {
        const auto [it, inserted] =
            oof[m].emplace(fold.oof.keys[i], SampleRef{&fold.oof, i, static_cast<int>(fold.fold)});
        if (!inserted) {
          throw_user_error("backbone '{}': sample '{}' is out-of-fold in both fold {} and fold {}",
                           stores[m].header.backbone, fold.oof.keys[i], it->second.fold, fold.fold);
        }
      }
    }
  }
  // Rows: training records with a MOS that every backbone predicted out of fold.
  std::vector<data::Record> rows;
  size_t unlabeled = 0;
  for (const auto& r : train_records) {
    bool everywhere = true;
    for (const auto& map : oof) everywhere &= map.count(r.img_path) > 0;
    if (!everywhere) continue;
    if (!r.mos) {
      ++unlabeled;
      continue;
    }
    rows.push_back(r);
  }
  size_t largest = 0, smallest_model = 0;
  for (size_t m = 0; m < oof.size(); ++m) {
    largest = std::max(largest, oof[m].size());
    if (oof[m].size() < oof[smallest_model].size()) smallest_model = m;
  }
  if (rows.size() < 8 || rows.size() * 2 < largest) {
    throw_user_error(
        "the backbones' out-of-fold predictions do not cover the same training "
        "samples: only {} rows are shared (backbone '{}' has {}, the largest {}); "
        "were they trained on the same records and folds?",
        rows.size(), stores[smallest_model].header.backbone, oof[smallest_model].size(), largest);
  }
  if (rows.size() != largest || unlabeled > 0) {
    log::warn(
        "ensemble: aligned by sample key: {} training rows shared by all {} backbones "
        "(largest store has {}; {} shared rows without a score dropped)",
        rows.size(), stores.size(), largest, unlabeled);
  }
  if (!in.has_elements)
    for (auto& r : rows) r.elements.clear();  // nothing to score them against
  in.truth = evaluation_set_from_records(rows, "training records");

  std::unordered_map<std::string, const data::Record*> row_by_key;
  for (const auto& r : rows) row_by_key.emplace(r.img_path, &r);
  for (size_t m = 0; m < stores.size(); ++m) {
    ModelInputs model;
    model.name = stores[m].header.backbone;
    model.num_folds = static_cast<int64_t>(stores[m].folds.size());
    for (size_t i = 0; i < in.truth.size(); ++i) {
      const auto& key = in.truth.keys[i];
      const SampleRef& ref = oof[m].at(key);
      model.fold.push_back(ref.fold);
      std::vector<std::string> wanted(
          in.truth.element_keys.begin() + in.truth.element_offsets[i],
          in.truth.element_keys.begin() + in.truth.element_offsets[i + 1]);
      append_sample(ref, model.name, key, wanted, model.oof);
    }
    // Test: every fold model must have predicted every test record; bag = mean over folds.
    if (!test_records.empty()) {
      for (const auto& fold : stores[m].folds) {
        std::unordered_map<std::string, size_t> index;
        for (size_t i = 0; i < fold.test.size(); ++i) index.emplace(fold.test.keys[i], i);
        ModelTable table;
        for (const auto& r : test_records) {
          const auto it = index.find(r.img_path);
          if (it == index.end()) {
            throw_user_error(
                "backbone '{}' fold {} has no test prediction for '{}' ({} of {} test "
                "records predicted)",
                model.name, fold.fold, r.img_path, fold.test.size(), test_records.size());
          }
          append_sample(SampleRef{&fold.test, it->second, static_cast<int>(fold.fold)}, model.name,
                        r.img_path,
                        in.has_elements ? element_keys_of(r) : std::vector<std::string>{}, table);
        }
        model.test_per_fold.push_back(std::move(table));
      }
      model.test = mean_of(model.test_per_fold);
    }
    in.models.push_back(std::move(model));
  }
  in.test_records = test_records;
  in.test_element_offsets.push_back(0);
  for (const auto& r : test_records) {
    in.test_element_offsets.push_back(in.test_element_offsets.back() +
                                      (in.has_elements ? r.elements.size() : 0));
  }
  return in;
}

}  // namespace tokenfocus::ensemble
