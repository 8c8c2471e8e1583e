// Sweeps: the `sweep:` section of a run config expands into trials, each a list of `--set`
// overrides on the base config with a stable name. Grid = the cartesian product of every
// parameter's values (parameters in key order); random = `sweep.trials` seeded draws; variants =
// one trial per `sweep.variants` entry, named by it (an ablation: a baseline and one change each).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config/run_config.h"

namespace tokenfocus::launch {

struct Trial {
  std::string name;                    // "t003-1a2b3c4d": index + hash of the overrides
  std::vector<std::string> overrides;  // "optim.lr=0.0001", ... (what this trial changes)
  std::string config_hash;             // hash of the trial's resolved config
};

// Expands the sweep of `base_config_path` (with `base_overrides` applied first) into trials whose
// run folders lie in `sweep_dir`. Every trial's config is resolved, so a parameter that names an
// unknown key or a bad value fails here, naming the trial's override.
std::vector<Trial> expand_sweep(const std::string& base_config_path,
                                const std::vector<std::string>& base_overrides,
                                const std::string& sweep_dir);

// The overrides that turn the base config into the config of `trial` inside `sweep_dir`: the
// base overrides, the trial's, its own run folder, and an emptied sweep section.
std::vector<std::string> trial_overrides(const Trial& trial,
                                         const std::vector<std::string>& base_overrides,
                                         const std::string& sweep_dir);

}  // namespace tokenfocus::launch
