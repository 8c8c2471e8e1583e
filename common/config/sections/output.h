// `output:` — the run folder and checkpointing cadence.
#pragma once

#include <cstdint>
#include <string>

#include "common/config/check.h"

namespace tokenfocus::config {

struct OutputConfig {
  std::string run_dir = "runs/run";
  int64_t checkpoint_every_steps = 0;  // 0 = at the end of each epoch only
  int64_t keep_checkpoints = 2;
  int64_t log_every_steps = 10;
  template <class V>
  void describe(V& v) {
    v("run_dir", run_dir);
    v("checkpoint_every_steps", checkpoint_every_steps, at_least(0));
    v("keep_checkpoints", keep_checkpoints, at_least(1));
    v("log_every_steps", log_every_steps, at_least(1));
  }
};

}  // namespace tokenfocus::config
