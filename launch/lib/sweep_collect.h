// `tokenfocus sweep --collect SWEEP_DIR`: one row per trial from its summary.json, best first.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ensemble/bootstrap.h"

namespace tokenfocus::launch {

// A metric of the submitted method with its bootstrap percentile interval (summary.json).
struct MetricInterval {
  std::optional<double> low, high;
};

struct TrialResult {
  std::string trial;                                   // folder name
  std::vector<std::string> overrides;                  // what the trial changed (from trial.json)
  std::string best_method;                             // the best model or ensemble of the trial
  std::optional<double> srcc, plcc, acc, final_score;  // unset while the trial has not finished
  MetricInterval srcc_interval, plcc_interval, acc_interval, final_interval;
  int64_t evaluation_rows = 0;
  // Against the sweep's baseline (the trial without overrides, e.g. a variant without `set`), when
  // both finished on the same evaluation rows: final and SRCC differences, paired bootstrap.
  std::optional<ensemble::Interval> final_vs_baseline, srcc_vs_baseline;
};

// B of the paired bootstrap that sweep --collect runs against the baseline (seed 0, 95 %).
inline constexpr int64_t kPairedBootstrapSamples = 1000;

// Reads SWEEP_DIR/<trial>/{trial.json, summary.json}; finished trials sorted by final score
// (best first), unfinished ones last. With a finished baseline trial, every other finished trial
// gets its paired differences against it.
std::vector<TrialResult> collect_sweep(const std::string& sweep_dir);

// The table as CSV (header + one line per trial; interval bounds in their own columns).
std::string sweep_csv(const std::vector<TrialResult>& results);
// The same as a Markdown table in sweep order, "value [low, high]" per metric (the bootstrap
// interval of the trial's submitted method on its evaluation rows) and the paired differences
// against the baseline, in bold where their interval excludes 0 (what docs/ensemble.md quotes).
std::string sweep_markdown(std::vector<TrialResult> results);

// True when the trial folder holds a finished run (its summary.json exists).
bool trial_finished(const std::string& trial_dir);

}  // namespace tokenfocus::launch
