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

// Per row: each model's score and label distribution q (and, optionally, its mean and minimum
// element probability).
FeatureMatrix stacking_features(const std::vector<const ModelTable*>& tables, size_t rows,
                                size_t num_labels, const std::vector<size_t>& element_offsets,
                                bool element_features);

struct StackingResult {
  std::string name;
  std::string description;         // the final meta-learner's hyperparameters and weights
  std::vector<double> nested_oof;  // per OOF row, from the meta-learner that did not see it
  std::vector<double> test;        // per test record (empty without a test set)
};

// Runs every named stacker; (stacker × outer fold) fits run on `threads` threads.
std::vector<StackingResult> run_stacking(const EnsembleInputs& inputs,
                                         const std::vector<std::string>& names,
                                         const StackerOptions& options, bool element_features,
                                         unsigned threads);

}  // namespace tokenfocus::ensemble
