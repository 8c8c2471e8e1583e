// The data-parallel training loop, independent of what is trained: a TrainingTask supplies the
// module and the summed loss of a list of sample positions; the loop supplies sampling (the data/
// DistributedSampler), gradient averaging (GradientReducer), accumulation, clipping, non-finite
// handling, AdamW with its schedule, checkpoints, resume, preemption and metrics.
//
// Loss scaling: each rank's loss is its per-sample loss summed over its micro-batch, divided by the
// number of samples one rank sees in the accumulation window; averaging over ranks then gives the
// mean over every sample of the window, whatever the world size or accumulation.
//
// Precision: optim.precision bf16 runs task.loss_sum (the forward) under bf16 autocast on the
// communicator's device, CPU or CUDA (trainer/precision.h, models/autocast.h).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/config/sections/distributed.h"
#include "common/config/sections/optim.h"
#include "common/config/sections/output.h"
#include "trainer/communicator.h"

namespace tokenfocus::trainer {

class TrainingTask {
 public:
  virtual ~TrainingTask() = default;
  virtual torch::nn::Module& module() = 0;
  virtual int64_t num_train_samples() const = 0;
  // Sum over `samples` (dataset positions) of the per-sample training loss, graph attached.
  virtual torch::Tensor loss_sum(const std::vector<int64_t>& samples) = 0;
  // After each epoch, on every rank (evaluation on the held-out fold, metrics). Returns metrics to
  // log as a JSON object text ("" for none).
  virtual std::string end_of_epoch(int64_t /*epoch*/, Communicator& /*comm*/) { return ""; }
  // The loss's terms since the last call, for the train metrics line ({"tf": ..., "ps": ...}):
  // values every rank holds alike (no collective is issued for them). Empty map for none.
  virtual std::map<std::string, double> take_loss_terms() { return {}; }
  // Before the first micro-batch of an epoch (also a resumed one): the micro-batches loss_sum will
  // be called with, in order, so that a task can prepare them ahead (data.loader).
  virtual void begin_epoch(int64_t /*epoch*/, const std::vector<std::vector<int64_t>>& /*plan*/) {}
  // Seconds loss_sum waited for its data since the last call (building it in the step counts).
  virtual double take_data_wait_seconds() { return 0; }
};

struct LoopOptions {
  config::OptimConfig optim;
  config::DistributedConfig distributed;
  config::OutputConfig output;
  std::string checkpoint_dir;  // step-<n>/ folders
  std::string metrics_path;    // JSON lines, written by rank 0 ("" = none)
  std::string config_hash;
  uint64_t seed = 0;
  int64_t fold = 0;
  bool resume = false;
  std::string label;  // "<backbone>/fold<k>" in progress lines
  // Rank 0, while a checkpoint is written: extra files into its (temporary) folder, e.g. the PEFT
  // adapter of a LoRA run. Covered by the checkpoint's DONE listing.
  std::function<void(const std::string& dir)> write_checkpoint_extra;
};

struct LoopResult {
  bool preempted = false;  // checkpointed after SIGTERM/SIGUSR1: exit with kExitRequeue
  int64_t optimizer_steps = 0;
  int64_t skipped_steps = 0;  // non-finite gradients with optim.nonfinite = skip
  double last_loss = 0;       // mean training loss of the last logged window
  std::string last_checkpoint;
};

LoopResult run_training(TrainingTask& task, Communicator& comm, const LoopOptions& options);

}  // namespace tokenfocus::trainer
