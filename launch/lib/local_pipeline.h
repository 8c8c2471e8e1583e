// `tokenfocus launch CONFIG --local --ranks N`: the run's stages one after another on this machine:
// prepare (synthetic data, tiny models) → `mpirun -np N tokenfocus train` → ensemble. Every stage
// reads RUN/config.yaml, the resolved config written first, so overrides are applied once.
#pragma once

#include <string>

#include "common/config/run_config.h"

namespace tokenfocus::launch {

// Returns the exit code of the first stage that failed (75 = a stage checkpointed after a
// preemption signal and wants to be run again), or 0.
int run_local_pipeline(const config::ResolvedRunConfig& run, int ranks,
                       const std::string& executable);

// Writes RUN/config.yaml (temp + rename) and returns its path.
std::string write_resolved_config(const config::ResolvedRunConfig& run);

}  // namespace tokenfocus::launch
