#include "ensemble/pipeline.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "common/error.h"
#include "common/log.h"
#include "data/portable_random.h"
#include "ensemble/blending.h"
#include "ensemble/evaluation_set.h"
#include "ensemble/stacking.h"
#include "ensemble/subset.h"

namespace tokenfocus::ensemble {
namespace {

unsigned worker_count(int64_t configured) {
  if (configured > 0) return static_cast<unsigned>(configured);
  return std::max(1u, std::thread::hardware_concurrency());
}

std::string weights_text(const Weights& w) {
  std::string out;
  for (size_t i = 0; i < w.names.size(); ++i) {
    if (w.values[i] < 5e-4) continue;
    out += fmt::format("{}{}={:.3f}", out.empty() ? "" : ", ", w.names[i], w.values[i]);
  }
  return out;
}

}  // namespace

EnsembleResult run_ensemble(const EnsembleInputs& inputs, const config::EnsembleConfig& config) {
  EnsembleResult result;
  result.direction = parse_plcc_direction(config.plcc_direction);
  const unsigned threads = worker_count(config.threads);
  const size_t n = inputs.truth.size();
  const bool has_test = !inputs.test_records.empty();

  // Holdout split (seeded) for blending; the rest are the evaluation rows.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(static_cast<uint64_t>(config.seed) ^ 0x2545F4914F6CDD1DULL);
  data::portable_shuffle(order, rng);
  const size_t holdout_count =
      std::clamp<size_t>(static_cast<size_t>(std::llround(config.blend_holdout * n)), 2, n - 2);
  std::vector<size_t> holdout(order.begin(), order.begin() + holdout_count);
  std::vector<size_t> evaluation(order.begin() + holdout_count, order.end());
  std::sort(holdout.begin(), holdout.end());
  std::sort(evaluation.begin(), evaluation.end());
  result.holdout_rows = holdout.size();
  result.evaluation = subset(inputs.truth, evaluation);
  log::info("ensemble: {} OOF rows: {} to choose blend weights, {} to score every method", n,
            holdout.size(), evaluation.size());

  // Stacking (nested CV over the trainer's folds).
  const auto stacks = run_stacking(
      inputs, config.stackers,
      StackerOptions{config.inner_folds, static_cast<uint64_t>(config.seed)},
      parse_stack_features(config.stack_features), config.stack_element_features, threads);

  // Blends: scores over models + stackers, elements over models (chosen on the holdout).
  std::vector<std::vector<double>> score_candidates, test_score_candidates;
  std::vector<std::vector<double>> element_candidates, test_element_candidates;
  for (const auto& m : inputs.models) {
    result.score_blend.names.push_back(m.name);
    score_candidates.push_back(m.oof.score);
    test_score_candidates.push_back(m.test.score);
    result.element_blend.names.push_back(m.name);
    element_candidates.push_back(m.oof.element);
    test_element_candidates.push_back(m.test.element);
  }
  for (const auto& s : stacks) {
    result.score_blend.names.push_back("stack:" + s.name);
    score_candidates.push_back(s.nested_oof);
    test_score_candidates.push_back(s.test);
  }
  const SimplexSearchOptions search{config.blend_starts, static_cast<uint64_t>(config.seed), 0};
  result.score_blend.values =
      blend_scores(score_candidates, inputs.truth.score, holdout, result.direction, search).weights;
  // Without element predictions there is nothing to blend: the candidates are empty columns.
  auto element_weights = [&](const std::vector<size_t>& rows) {
    if (!inputs.has_elements)
      return std::vector<double>(element_candidates.size(), 1.0 / element_candidates.size());
    return blend_elements(element_candidates, inputs.truth.element,
                          element_indices(inputs.truth, rows), search)
        .weights;
  };
  result.element_blend.values = element_weights(holdout);
  const auto blended_elements = convex_combination(element_candidates, result.element_blend.values);

  // For choosing the submission, every candidate's holdout score must be out of sample. Models
  // and stackers are (OOF and nested-CV predictions); the blend is cross-fitted: weights chosen
  // on one half of the holdout predict the other half, and the other way round.
  AlignedPrediction crossfit_blend{std::vector<double>(n, 0.0),
                                   std::vector<double>(inputs.truth.element.size(), 0.0)};
  {
    std::vector<size_t> shuffled = holdout;
    std::mt19937_64 halves_rng(data::mix_seed(static_cast<uint64_t>(config.seed), 0xc401ceULL));
    data::portable_shuffle(shuffled, halves_rng);
    const std::vector<size_t> first(shuffled.begin(), shuffled.begin() + shuffled.size() / 2);
    const std::vector<size_t> second(shuffled.begin() + shuffled.size() / 2, shuffled.end());
    for (const auto& [fit_rows, predict_rows] :
         {std::pair{first, second}, std::pair{second, first}}) {
      const auto w_score =
          blend_scores(score_candidates, inputs.truth.score, fit_rows, result.direction, search)
              .weights;
      const auto w_element = element_weights(fit_rows);
      const auto scores = convex_combination(score_candidates, w_score);
      const auto elements = convex_combination(element_candidates, w_element);
      for (size_t r : predict_rows) crossfit_blend.score[r] = scores[r];
      for (size_t e : element_indices(inputs.truth, predict_rows))
        crossfit_blend.element[e] = elements[e];
    }
  }
  const EvaluationSet holdout_truth = subset(inputs.truth, holdout);
  // Without element predictions the challenge's final score does not exist: choose by the half
  // of it that does, (SRCC + PLCC) / 2.
  if (!inputs.has_elements) result.selection_metric = "(SRCC + PLCC) / 2";
  auto holdout_final = [&](const AlignedPrediction& all_rows) {
    const Metrics m =
        evaluate(holdout_truth, subset(inputs.truth, all_rows, holdout), result.direction);
    return inputs.has_elements ? m.final : (m.srcc + m.plcc) / 2;
  };
  const auto blended_test_elements =
      has_test ? convex_combination(test_element_candidates, result.element_blend.values)
               : std::vector<double>{};

  // Leaderboard entries on the evaluation rows.
  auto& methods = result.methods;
  for (const auto& m : inputs.models) {
    MethodResult r;
    r.name = m.name;
    r.kind = "model";
    r.detail = fmt::format("out-of-fold predictions of {} fold models; test = mean of the folds",
                           m.num_folds);
    r.evaluation = subset(inputs.truth, AlignedPrediction{m.oof.score, m.oof.element}, evaluation);
    r.holdout_final = holdout_final(AlignedPrediction{m.oof.score, m.oof.element});
    r.test_score = m.test.score;
    r.test_element = m.test.element;
    methods.push_back(std::move(r));
  }
  for (const auto& s : stacks) {
    MethodResult r;
    r.name = "stack:" + s.name;
    r.kind = "stacker";
    r.detail = s.description + "; elements from the element blend";
    r.evaluation =
        subset(inputs.truth, AlignedPrediction{s.nested_oof, blended_elements}, evaluation);
    r.holdout_final = holdout_final(AlignedPrediction{s.nested_oof, crossfit_blend.element});
    r.test_score = s.test;
    r.test_element = blended_test_elements;
    methods.push_back(std::move(r));
  }
  {
    MethodResult r;
    r.name = "blend";
    r.kind = "blend";
    r.detail =
        fmt::format("scores: {}; elements: {}", weights_text(result.score_blend),
                    inputs.has_elements ? weights_text(result.element_blend) : "not predicted");
    r.evaluation =
        subset(inputs.truth,
               AlignedPrediction{convex_combination(score_candidates, result.score_blend.values),
                                 blended_elements},
               evaluation);
    r.holdout_final = holdout_final(crossfit_blend);
    if (has_test) {
      r.test_score = convex_combination(test_score_candidates, result.score_blend.values);
      r.test_element = blended_test_elements;
    }
    methods.push_back(std::move(r));
  }
  const BootstrapOptions boot{config.bootstrap_samples, static_cast<uint64_t>(config.seed), threads,
                              config.confidence, result.direction};
  {
    std::vector<AlignedPrediction> predictions;
    for (const auto& m : methods) predictions.push_back(m.evaluation);
    const auto intervals = bootstrap_metrics(result.evaluation, predictions, boot);
    for (size_t i = 0; i < methods.size(); ++i) {
      methods[i].metrics = intervals[i];
      methods[i].rows = result.evaluation.size();
    }
  }
  // Selected: the best out-of-sample final score on the HOLDOUT rows among models, stackers and
  // the blend. The evaluation rows only report: choosing there would report the winner of a
  // contest on the very rows its score comes from, biased upwards.
  result.selected = 0;
  for (size_t i = 1; i < methods.size(); ++i) {
    const double a = methods[i].holdout_final, b = methods[result.selected].holdout_final;
    if (std::isfinite(a) && (!std::isfinite(b) || a > b)) result.selected = i;
  }
  // Each fold model on its own held-out rows among the evaluation rows.
  for (const auto& m : inputs.models) {
    std::vector<int> folds(m.fold.begin(), m.fold.end());
    std::sort(folds.begin(), folds.end());
    folds.erase(std::unique(folds.begin(), folds.end()), folds.end());
    for (int f : folds) {
      std::vector<size_t> rows;
      for (size_t r : evaluation)
        if (m.fold[r] == f) rows.push_back(r);
      if (rows.size() < 3) continue;
      MethodResult r;
      r.name = fmt::format("{}/fold{}", m.name, f);
      r.kind = "fold";
      r.detail = fmt::format("fold {} model on its own held-out rows", f);
      const auto truth = subset(inputs.truth, rows);
      r.evaluation = subset(inputs.truth, AlignedPrediction{m.oof.score, m.oof.element}, rows);
      r.metrics = bootstrap_metrics(truth, {r.evaluation}, boot).front();
      r.rows = rows.size();
      methods.push_back(std::move(r));
    }
  }
  log::info(
      "ensemble: best method '{}', chosen on {} holdout rows ({} {:.4f}); reported on {} "
      "evaluation rows: SRCC {:.4f}, final {:.4f}",
      methods[result.selected].name, holdout.size(), result.selection_metric,
      methods[result.selected].holdout_final, evaluation.size(),
      methods[result.selected].metrics.srcc.point, methods[result.selected].metrics.final.point);
  return result;
}

}  // namespace tokenfocus::ensemble
