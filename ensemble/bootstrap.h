// Bootstrap confidence intervals: the evaluation set's records are resampled with replacement (the
// same draws for every model, so intervals are comparable), every metric is recomputed per draw,
// and the 2.5/97.5 percentiles are reported. Draws run on several threads; results depend only on
// the seed, never on the thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "ensemble/evaluation_set.h"
#include "ensemble/metrics.h"

namespace tokenfocus::ensemble {

struct Interval {
  double point = 0;  // the metric on the full evaluation set
  double low = 0;    // 2.5th percentile of the bootstrap draws (NaN when B = 0)
  double high = 0;   // 97.5th percentile
};

struct MetricIntervals {
  Interval srcc, plcc, krcc, rmse, acc, final;
};

struct BootstrapOptions {
  int64_t samples = 1000;  // B
  uint64_t seed = 0;
  unsigned threads = 0;  // 0 = std::thread::hardware_concurrency()
  double confidence = 0.95;
  PlccDirection direction = PlccDirection::kOfficial;
};

// One MetricIntervals per prediction (all aligned to `truth`).
std::vector<MetricIntervals> bootstrap_metrics(const EvaluationSet& truth,
                                               const std::vector<AlignedPrediction>& predictions,
                                               const BootstrapOptions& options);

// Paired bootstrap of `other` against `baseline` on the same rows and the same draws: each interval
// is of metric(other) − metric(baseline), its point the difference on all rows. Far narrower than
// the two separate intervals when the predictions are correlated (an ablation's trials), so a
// change whose interval excludes 0 is one the rows support.
MetricIntervals paired_differences(const EvaluationSet& truth, const AlignedPrediction& baseline,
                                   const AlignedPrediction& other, const BootstrapOptions& options);

// Record indices of draw `draw` (a pure function of seed and draw number).
std::vector<uint32_t> bootstrap_draw(size_t n, uint64_t seed, int64_t draw);

}  // namespace tokenfocus::ensemble
