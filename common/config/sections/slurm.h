// `slurm:` — resources of the generated sbatch scripts.
#pragma once

#include <cstdint>
#include <string>

#include "common/config/check.h"

namespace tokenfocus::config {

struct SlurmConfig {
  std::string partition;
  std::string account;
  std::string time = "24:00:00";
  int64_t nodes = 1;
  int64_t gpus_per_node = 0;
  int64_t tasks_per_node = 1;
  int64_t cpus_per_task = 1;
  std::string launcher = "srun";  // how ranks start inside the allocation
  int64_t signal_seconds = 300;   // USR1 this long before the time limit
  bool job_array = true;          // one array task per (backbone, fold)
  template <class V>
  void describe(V& v) {
    v("partition", partition);
    v("account", account);
    v("time", time);
    v("nodes", nodes, at_least(1));
    v("gpus_per_node", gpus_per_node, at_least(0));
    v("tasks_per_node", tasks_per_node, at_least(1));
    v("cpus_per_task", cpus_per_task, at_least(1));
    v("launcher", launcher, one_of({"srun", "mpirun"}));
    v("signal_seconds", signal_seconds, at_least(0));
    v("job_array", job_array);
  }
};

}  // namespace tokenfocus::config
