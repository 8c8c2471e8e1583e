// `tokenfocus sweep --collect SWEEP_DIR`: one row per trial from its summary.json, best first.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace tokenfocus::launch {

struct TrialResult {
  std::string trial;                                   // folder name
  std::vector<std::string> overrides;                  // what the trial changed (from trial.json)
  std::string best_method;                             // the best model or ensemble of the trial
  std::optional<double> srcc, plcc, acc, final_score;  // unset while the trial has not finished
};

// Reads SWEEP_DIR/<trial>/{trial.json, summary.json}; finished trials sorted by final score
// (best first), unfinished ones last.
std::vector<TrialResult> collect_sweep(const std::string& sweep_dir);

// The table as CSV (header + one line per trial).
std::string sweep_csv(const std::vector<TrialResult>& results);

// True when the trial folder holds a finished run (its summary.json exists).
bool trial_finished(const std::string& trial_dir);

}  // namespace tokenfocus::launch
