// The ensemble stage: from aligned inputs to a leaderboard of every model, fold model, stacker and
// blend — all scored with bootstrap intervals on the same evaluation rows — and the test
// predictions of the method chosen for the submission.
//
// Honesty: OOF rows are split once (seeded) into a holdout (ensemble.blend_holdout) and the
// evaluation rows. The holdout CHOOSES: blend weights are fitted there, and the submitted method
// is the one with the best out-of-sample final score there (the blend's holdout score is
// cross-fitted over two halves). The evaluation rows only REPORT: every method's leaderboard
// figures come from them, and nothing was fitted or chosen on them. Stacker predictions are
// nested-CV predictions throughout.
#pragma once

#include <limits>
#include <string>
#include <vector>

#include "common/config/sections/ensemble.h"
#include "ensemble/bootstrap.h"
#include "ensemble/model_inputs.h"

namespace tokenfocus::ensemble {

struct MethodResult {
  std::string name;         // "qwen2_vl", "qwen2_vl/fold1", "stack:ridge", "blend"
  std::string kind;         // "model" | "fold" | "stacker" | "blend"
  std::string detail;       // how it was built (weights, hyperparameters)
  size_t rows = 0;          // evaluation rows it was scored on
  MetricIntervals metrics;  // on the evaluation rows: what the leaderboard reports
  // Its out-of-sample score on the holdout rows, which chose the submission: the final score, or
  // (SRCC + PLCC) / 2 without element predictions (NaN for fold rows, which are not candidates).
  double holdout_final = std::numeric_limits<double>::quiet_NaN();
  AlignedPrediction evaluation;      // on its evaluation rows (fold rows: that fold's rows only)
  std::vector<double> test_score;    // per test record (not for fold rows)
  std::vector<double> test_element;  // per flattened test element
};

struct Weights {
  std::vector<std::string> names;
  std::vector<double> values;
};

struct EnsembleResult {
  EvaluationSet evaluation;  // the rows every non-fold method is scored on
  size_t holdout_rows = 0;
  std::vector<MethodResult> methods;
  Weights score_blend;    // over models and stackers, chosen on the holdout
  Weights element_blend;  // over models, chosen on the holdout (accuracy)
  size_t selected = 0;    // index into methods: the submission's source, chosen on the holdout
  // What chose it: "final" or, without element predictions, "(SRCC + PLCC) / 2".
  std::string selection_metric = "final";
  PlccDirection direction = PlccDirection::kOfficial;
};

EnsembleResult run_ensemble(const EnsembleInputs& inputs, const config::EnsembleConfig& config);

}  // namespace tokenfocus::ensemble
