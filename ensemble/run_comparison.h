// A finished run's submitted method, read back from what `ensemble` wrote (summary.json, the
// method's evaluation-row predictions and report/evaluation_ground_truth.json), and the paired
// comparison of two runs on the same evaluation rows: what `sweep --collect` reports for each trial
// of a sweep against its baseline.
#pragma once

#include <string>

#include "ensemble/bootstrap.h"
#include "ensemble/evaluation_set.h"

namespace tokenfocus::ensemble {

struct SubmittedPredictions {
  std::string method;  // summary.json "submitted"
  EvaluationSet truth;
  AlignedPrediction prediction;
};

// UserError naming the file when the run has no summary, or its method no prediction file.
SubmittedPredictions read_submitted_predictions(const std::string& run_dir);

// metric(other) − metric(baseline) with paired bootstrap intervals. UserError when the two runs
// were evaluated on different rows (other data, folds or holdout).
MetricIntervals compare_runs(const SubmittedPredictions& baseline,
                             const SubmittedPredictions& other, const BootstrapOptions& options);

}  // namespace tokenfocus::ensemble
