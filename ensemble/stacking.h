// Stacking with nested cross-validation. Outer folds are the trainer's folds (each OOF row's fold):
// for fold f a meta-learner is fitted on the other folds' rows (choosing its hyperparameters by
// inner CV on those rows only) and predicts fold f, so every reported stacking prediction comes
// from a meta-learner that never saw that row. The final meta-learner, fitted on all rows,
// predicts the test set from the fold-bagged test features.
#pragma once

#include <string>
#include <vector>

#include "ensemble/model_inputs.h"
#include "ensemble/stacker.h"

namespace tokenfocus::ensemble {

// What each model contributes to a stacking row (ensemble.stack_features). Each model's K label
// probabilities sum to 1 and its score is their expectation, so "score and all of q" next to an
// intercept is exactly collinear: a least-squares fit is then singular and can return weights of
// 10^5 that cancel. Every layout here has no exact collinearity:
//   kExpectedScore  ŝ                               (1 feature per model)
//   kProbabilities  q_1 .. q_{K-1}                   (K-1; ŝ and q_K are in their affine span)
//   kLogOdds        ŝ, log(q_k / q_K) for k < K      (K; clamped at q >= 1e-6)
enum class StackFeatures { kExpectedScore, kProbabilities, kLogOdds };
StackFeatures parse_stack_features(const std::string& name);  // the names above, snake_case

// Per row: each model's features (above), then optionally its mean and minimum element
// probability.
FeatureMatrix stacking_features(const std::vector<const ModelTable*>& tables, size_t rows,
                                size_t num_labels, const std::vector<size_t>& element_offsets,
                                StackFeatures features, bool element_features);

struct StackingResult {
  std::string name;
  std::string description;         // the final meta-learner's hyperparameters and weights
  std::vector<double> nested_oof;  // per OOF row, from the meta-learner that did not see it
  std::vector<double> test;        // per test record (empty without a test set)
};

// Runs every named stacker; (stacker × outer fold) fits run on `threads` threads.
std::vector<StackingResult> run_stacking(const EnsembleInputs& inputs,
                                         const std::vector<std::string>& names,
                                         const StackerOptions& options, StackFeatures features,
                                         bool element_features, unsigned threads);

}  // namespace tokenfocus::ensemble
