// Blending: convex weights (w ≥ 0, Σw = 1) over candidate predictions — models, fold bags or
// stackers — chosen on a holdout split to maximise the challenge score itself. The score is not
// differentiable (ranks, a fitted logistic, thresholds), so the search is derivative-free:
// Nelder–Mead over softmax logits, restarted from several points (uniform, each candidate alone,
// random), best result kept.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "ensemble/metrics.h"

namespace tokenfocus::ensemble {

struct SimplexSearchOptions {
  int64_t starts = 8;
  uint64_t seed = 0;
  int max_evaluations_per_start = 0;  // 0 = 150 + 40·k
};

struct SimplexOptimum {
  std::vector<double> weights;
  double objective = 0;
  int evaluations = 0;
};

// Maximises objective(weights) over the probability simplex of dimension k.
SimplexOptimum maximise_over_simplex(
    size_t k, const std::function<double(const std::vector<double>&)>& objective,
    const SimplexSearchOptions& options);

// Σ_j w_j · candidates[j][i] for every i.
std::vector<double> convex_combination(const std::vector<std::vector<double>>& candidates,
                                       const std::vector<double>& weights);

// Overall-score blend: maximises SRCC/4 + PLCC/4 (the score part of the challenge formula) of the
// combination against `truth`, both restricted to `rows`.
SimplexOptimum blend_scores(const std::vector<std::vector<double>>& candidates,
                            const std::vector<double>& truth, const std::vector<size_t>& rows,
                            PlccDirection direction, const SimplexSearchOptions& options);

// Element blend (accuracy-driven): maximises element accuracy at the 0.5 threshold on `rows`;
// the mean squared error breaks ties between weightings of equal accuracy.
SimplexOptimum blend_elements(const std::vector<std::vector<double>>& candidates,
                              const std::vector<double>& truth, const std::vector<size_t>& rows,
                              const SimplexSearchOptions& options);

}  // namespace tokenfocus::ensemble
