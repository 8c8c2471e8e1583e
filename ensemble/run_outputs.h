// `tokenfocus ensemble`: reads every predictions store of a run, ensembles them and writes
//   RUN/submission/output.json + readme.txt   (when data.test_records is set)
//   RUN/summary.json                           (leaderboard, weights, chosen method)
//   RUN/report/report.md + *.svg               (charts)
//   RUN/report/predictions/<method>.json + evaluation_ground_truth.json (re-checkable with
//   evaluate)
// and prints the leaderboard.
#pragma once

#include <string>

#include "common/config/run_config.h"
#include "ensemble/pipeline.h"

namespace tokenfocus::ensemble {

struct EnsembleRunPaths {
  std::string run_dir;
  std::string submission_dir;  // RUN/submission
  std::string report_dir;      // RUN/report
  std::string summary_path;    // RUN/summary.json
};

EnsembleRunPaths ensemble_run_paths(const std::string& run_dir);

// The whole stage; returns the result (the command prints its leaderboard).
EnsembleResult run_ensemble_stage(const config::ResolvedRunConfig& config,
                                  const std::string& run_dir);

// Writes the records of an evaluation set in the submission / eval.json layout with the given
// scores and element values (used for the re-checkable prediction and ground-truth files).
std::string evaluation_rows_json(const EvaluationSet& set, const std::vector<double>& scores,
                                 const std::vector<double>& elements);

}  // namespace tokenfocus::ensemble
