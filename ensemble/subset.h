// Restricting an evaluation set and its aligned predictions to some of its records (holdout
// splits, per-fold rows), keeping the flattened elements in step.
#pragma once

#include <vector>

#include "ensemble/evaluation_set.h"

namespace tokenfocus::ensemble {

EvaluationSet subset(const EvaluationSet& set, const std::vector<size_t>& rows);
// `values` holds one entry per flattened element of `set`.
std::vector<double> subset_elements(const EvaluationSet& set, const std::vector<double>& values,
                                    const std::vector<size_t>& rows);
std::vector<double> subset_rows(const std::vector<double>& values, const std::vector<size_t>& rows);
AlignedPrediction subset(const EvaluationSet& set, const AlignedPrediction& prediction,
                         const std::vector<size_t>& rows);
// Indices of the flattened elements that belong to `rows`.
std::vector<size_t> element_indices(const EvaluationSet& set, const std::vector<size_t>& rows);

}  // namespace tokenfocus::ensemble
