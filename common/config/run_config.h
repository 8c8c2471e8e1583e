// The whole run described by one YAML file (DESIGN.md §8). Each section lives in sections/ and
// describes its own keys; this struct only lists the sections.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config/resolve.h"
#include "common/config/sections/backbone.h"
#include "common/config/sections/data.h"
#include "common/config/sections/distributed.h"
#include "common/config/sections/ensemble.h"
#include "common/config/sections/folds.h"
#include "common/config/sections/loss.h"
#include "common/config/sections/optim.h"
#include "common/config/sections/output.h"
#include "common/config/sections/prompt.h"
#include "common/config/sections/slurm.h"
#include "common/config/sections/sweep.h"

namespace tokenfocus::config {

struct RunConfig {
  std::string name = "run";
  int64_t seed = 0;
  DataConfig data;
  std::vector<BackboneConfig> backbones;
  PromptConfig prompt;
  LossConfig loss;
  OptimConfig optim;
  DistributedConfig distributed;
  FoldsConfig folds;
  OutputConfig output;
  EnsembleConfig ensemble;
  SweepConfig sweep;
  SlurmConfig slurm;

  template <class V>
  void describe(V& v) {
    v("name", name);
    v("seed", seed, at_least(0));
    v("data", data);
    v("backbones", backbones);
    v("prompt", prompt);
    v("loss", loss);
    v("optim", optim);
    v("distributed", distributed);
    v("folds", folds);
    v("output", output);
    v("ensemble", ensemble);
    v("sweep", sweep);
    v("slurm", slurm);
  }

  // The prompt section as backbone `b` asks it: its own overall question and labels when set.
  PromptConfig prompt_for(const BackboneConfig& b) const;

  // Rules that span keys (unique backbone names, label sets of matching length, ...).
  void validate() const;
};

using ResolvedRunConfig = Resolved<RunConfig>;

// Reads CONFIG with `--set` overrides applied; every error names file:line (or --set) and key.
ResolvedRunConfig load_run_config(const std::string& path,
                                  const std::vector<std::string>& overrides = {});

}  // namespace tokenfocus::config
