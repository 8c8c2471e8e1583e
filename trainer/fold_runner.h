// `tokenfocus train`: every (backbone, fold) of a run, or the ones selected (Slurm array tasks).
// Per fold: train on the other folds, evaluate on the held-out fold each epoch, then write the
// out-of-fold and test predictions to RUN/predictions/<backbone>/fold<k>.h5 and export the fold
// model as a scoring folder, RUN/models/<backbone>/fold<k>.
#pragma once

#include <optional>
#include <string>

#include "common/config/run_config.h"
#include "trainer/communicator.h"

namespace tokenfocus::trainer {

struct TrainSelection {
  std::string backbone;         // "" = every backbone
  std::optional<int64_t> fold;  // unset = every fold of folds.only (or all k)
  bool resume = false;          // continue from checkpoints; skip folds whose predictions exist
  std::string code_version;     // recorded in the predictions stores
};

// Returns kExitOk, or kExitRequeue when a preemption signal stopped training after a checkpoint.
// Collective: every rank calls it with the same arguments.
int train_run(const config::ResolvedRunConfig& run, const TrainSelection& selection,
              Communicator& comm);

// `tokenfocus predict`: rewrites each selected fold's predictions store from the fold model that
// train exported (RUN/models/<backbone>/fold<k>, scoring/scorer_folder.h), on every rank; `resume`
// is ignored. On the world size that trained, the stores equal train's (tested). Collective.
int predict_run(const config::ResolvedRunConfig& run, const TrainSelection& selection,
                Communicator& comm);

}  // namespace tokenfocus::trainer
