#include "ensemble/stacking.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <set>
#include <thread>

#include "common/error.h"

#include "common/log.h"

namespace tokenfocus::ensemble {

StackFeatures parse_stack_features(const std::string& name) {
  if (name == "expected_score") return StackFeatures::kExpectedScore;
  if (name == "probabilities") return StackFeatures::kProbabilities;
  if (name == "log_odds") return StackFeatures::kLogOdds;
  throw_user_error(
      "ensemble.stack_features: unknown layout '{}' (known: expected_score, probabilities, "
      "log_odds)",
      name);
}

FeatureMatrix stacking_features(const std::vector<const ModelTable*>& tables, size_t rows,
                                size_t num_labels, const std::vector<size_t>& element_offsets,
                                StackFeatures features, bool element_features) {
  const size_t per_model = features == StackFeatures::kExpectedScore   ? 1
                           : features == StackFeatures::kProbabilities ? num_labels - 1
                                                                       : num_labels;
  FeatureMatrix x;
  x.rows = rows;
  x.cols = tables.size() * (per_model + (element_features ? 2 : 0));
  x.values.reserve(x.rows * x.cols);
  for (size_t r = 0; r < rows; ++r) {
    for (const ModelTable* t : tables) {
      const double* q = &t->label_probs[r * num_labels];
      if (features != StackFeatures::kProbabilities) x.values.push_back(t->score[r]);
      if (features == StackFeatures::kProbabilities)
        for (size_t k = 0; k + 1 < num_labels; ++k) x.values.push_back(q[k]);
      if (features == StackFeatures::kLogOdds) {
        const double last = std::max(q[num_labels - 1], 1e-6);
        for (size_t k = 0; k + 1 < num_labels; ++k)
          x.values.push_back(std::log(std::max(q[k], 1e-6) / last));
      }
      if (element_features) {
        double sum = 0, lowest = 1;
        const size_t begin = element_offsets[r], end = element_offsets[r + 1];
        for (size_t e = begin; e < end; ++e) {
          sum += t->element[e];
          lowest = std::min(lowest, t->element[e]);
        }
        x.values.push_back(end > begin ? sum / static_cast<double>(end - begin) : 0.5);
        x.values.push_back(end > begin ? lowest : 0.5);
      }
    }
  }
  return x;
}

std::vector<StackingResult> run_stacking(const EnsembleInputs& inputs,
                                         const std::vector<std::string>& names,
                                         const StackerOptions& options, StackFeatures features,
                                         bool element_features, unsigned threads) {
  std::vector<const ModelTable*> oof_tables, test_tables;
  for (const auto& m : inputs.models) {
    oof_tables.push_back(&m.oof);
    test_tables.push_back(&m.test);
  }
  const size_t n = inputs.truth.size();
  const FeatureMatrix x = stacking_features(
      oof_tables, n, inputs.num_labels(), inputs.truth.element_offsets, features, element_features);
  const std::vector<int>& fold = inputs.models.front().fold;
  const std::set<int> folds(fold.begin(), fold.end());
  FeatureMatrix x_test;
  if (!inputs.test_records.empty()) {
    x_test = stacking_features(test_tables, inputs.test_records.size(), inputs.num_labels(),
                               inputs.test_element_offsets, features, element_features);
  }

  if (folds.size() < 2) {
    log::warn(
        "stacking skipped: the OOF rows come from {} fold; nested cross-validation needs at "
        "least 2",
        folds.size());
    return {};
  }
  std::vector<StackingResult> results(names.size());
  for (size_t s = 0; s < names.size(); ++s) {
    results[s].name = names[s];
    results[s].nested_oof.assign(n, 0.0);
    make_stacker(names[s], options);  // unknown names fail here, before any thread starts
  }
  // Tasks: (stacker, outer fold) plus (stacker, final fit on everything) as fold = -1.
  struct Task {
    size_t stacker;
    int fold;
  };
  std::vector<Task> tasks;
  for (size_t s = 0; s < names.size(); ++s) {
    for (int f : folds) tasks.push_back({s, f});
    tasks.push_back({s, -1});
  }
  std::atomic<size_t> next{0};
  std::mutex mutex;
  std::exception_ptr failure;
  auto worker = [&] {
    for (size_t t; (t = next.fetch_add(1)) < tasks.size();) {
      try {
        const Task task = tasks[t];
        auto stacker = make_stacker(names[task.stacker], options);
        std::vector<size_t> train, held;
        for (size_t r = 0; r < n; ++r)
          (task.fold >= 0 && fold[r] == task.fold ? held : train).push_back(r);
        std::vector<double> y;
        for (size_t r : train) y.push_back(inputs.truth.score[r]);
        stacker->fit(x.select_rows(train), y);
        auto& result = results[task.stacker];
        if (task.fold >= 0) {
          const auto pred = stacker->predict(x.select_rows(held));
          for (size_t i = 0; i < held.size(); ++i) result.nested_oof[held[i]] = pred[i];
        } else {
          std::lock_guard<std::mutex> lock(mutex);
          result.description = stacker->describe();
          if (x_test.rows > 0) result.test = stacker->predict(x_test);
        }
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!failure) failure = std::current_exception();
      }
    }
  };
  threads = std::max(1u, std::min<unsigned>(threads, static_cast<unsigned>(tasks.size())));
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
  if (failure) std::rethrow_exception(failure);
  return results;
}

}  // namespace tokenfocus::ensemble
