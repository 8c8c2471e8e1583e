// Training checkpoints (layout in docs/formats/checkpoints-training.md). A checkpoint is a folder
// DIR/step-<8 digits>/ written under a temporary name, renamed, then marked complete by a DONE file
// that lists every file with its size and SHA-256. Resume takes the newest folder whose DONE
// verifies and warns about (and skips) incomplete or corrupt ones. Saving is collective: every
// rank stores its own RNG state, rank 0 everything else. The folder must be on a filesystem every
// rank sees.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "trainer/communicator.h"

namespace tokenfocus::trainer {

struct TrainerState {
  int64_t epoch = 0;           // epoch the sampler cursor is in
  int64_t batch_in_epoch = 0;  // next micro-batch of that epoch (data cursor)
  int64_t optimizer_steps = 0;
  int64_t world_size = 1;
  std::string config_hash;
};

struct CheckpointContents {
  TrainerState state;
  std::map<std::string, torch::Tensor> weights;    // trainable parameters, by name
  std::map<std::string, torch::Tensor> optimizer;  // AdamW::state_dict()
  // Optional: writes extra files into the (temporary) folder on rank 0, e.g. a PEFT adapter/.
  std::function<void(const std::string& dir)> write_extra;
};

class CheckpointStore {
 public:
  CheckpointStore(std::string directory, int64_t keep_last);

  // Collective. Returns the final folder path. Keeps the newest `keep_last` complete checkpoints.
  std::string save(Communicator& comm, const CheckpointContents& contents);

  // Collective: rank 0 picks the newest complete checkpoint (warning about each skipped one) and
  // tells the others. nullopt when there is none.
  std::optional<std::string> find_latest(Communicator& comm) const;

  // Reads a checkpoint folder (weights, optimizer state, trainer state) and restores this rank's
  // RNG state when the world size matches. UserError naming the file when something is malformed.
  static CheckpointContents load(const std::string& folder, int rank, int world_size);

  // Whether a folder is complete: DONE present and every listed file with its size and SHA-256.
  // On false, `why` says what is wrong.
  static bool verify(const std::string& folder, std::string* why);

  const std::string& directory() const { return directory_; }

 private:
  std::string directory_;
  int64_t keep_last_;
};

}  // namespace tokenfocus::trainer
