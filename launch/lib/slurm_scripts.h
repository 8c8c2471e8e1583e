// sbatch scripts for a run: prepare (data + tiny models) → training (a job array over backbone ×
// fold, or one job) → ensemble, chained with --dependency=afterok. Preemption: Slurm sends USR1
// to the batch shell `slurm.signal_seconds` before the limit; the script passes it to the ranks,
// which checkpoint and exit 75; the script then requeues its own job, which resumes.
#pragma once

#include <string>
#include <vector>

#include "common/config/run_config.h"

namespace tokenfocus::launch {

struct SlurmScripts {
  std::string directory;  // RUN/slurm
  std::string config;     // RUN/slurm/config.yaml: the resolved config every job reads
  std::string prepare, train, ensemble, submit;  // script paths
  int train_tasks = 0;                           // array size (1 without an array)
};

// Writes the scripts (temp + rename) and returns their paths. `executable` is the tokenfocus
// binary the jobs run.
SlurmScripts write_slurm_scripts(const config::ResolvedRunConfig& run,
                                 const std::string& executable);

// The (backbone, fold) pairs a run trains, in array-task order.
std::vector<std::pair<std::string, int64_t>> training_tasks(const config::RunConfig& run);

// Submits the chain with sbatch; returns the three job ids "prepare train ensemble".
std::string submit_slurm_scripts(const SlurmScripts& scripts);

}  // namespace tokenfocus::launch
