// Training checkpoints (layout in docs/formats/checkpoints-training.md). A checkpoint is a folder
// DIR/step-<8 digits>/ written under a temporary name, renamed, then marked complete by a DONE file
// that lists every file with its size and SHA-256. Resume takes the newest folder whose DONE
// verifies and warns about (and skips) incomplete or corrupt ones. Saving is collective: every
// rank stores its own RNG state (and, with distributed.zero: 1, its optimizer shard as
// optimizer/rank<r>.safetensors), rank 0 everything else. The folder must be on a filesystem
// every rank sees.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "trainer/communicator.h"
#include "trainer/gradient_reducer.h"

namespace tokenfocus::trainer {

struct TrainerState {
  int64_t epoch = 0;           // epoch the sampler cursor is in
  int64_t batch_in_epoch = 0;  // next micro-batch of that epoch (data cursor)
  int64_t optimizer_steps = 0;
  int64_t world_size = 1;
  std::string config_hash;
  int64_t zero_stage = 0;  // distributed.zero: 1 = the optimizer state is one file per rank
};

struct CheckpointContents {
  TrainerState state;
  // The trainable parameters, by name: every weight for finetune: full, only the LoRA factors for
  // finetune: lora, only the LM head for finetune: head.
  std::map<std::string, torch::Tensor> weights;
  // AdamW::state_dict() (rank 0's is written), or with zero_stage 1 ZeroAdamW::state_dict() (each
  // rank's own shard is written, and read back by the same rank).
  std::map<std::string, torch::Tensor> optimizer;
  // Optional: writes extra files into the (temporary) folder on rank 0, e.g. a PEFT adapter/.
  std::function<void(const std::string& dir)> write_extra;
};

// Copies a checkpoint's `weights` (read from `file`) into `parameters`. Strict: every parameter
// present with its shape and dtype, and no tensor the parameters do not have; otherwise a UserError
// naming the tensor and the file (e.g. "step-00000004/model.safetensors: tensor 'fc1.weight' is
// BFloat16 [24, 6], the model's parameter is Float [24, 6]").
void load_parameters(const std::vector<NamedParameter>& parameters,
                     const std::map<std::string, torch::Tensor>& weights, const std::string& file);

class CheckpointStore {
 public:
  CheckpointStore(std::string directory, int64_t keep_last);

  // Collective. Returns the final folder path. Keeps the newest `keep_last` complete checkpoints.
  std::string save(Communicator& comm, const CheckpointContents& contents);

  // Collective: rank 0 picks the newest complete checkpoint (warning about each skipped one) and
  // tells the others. nullopt when there is none.
  std::optional<std::string> find_latest(Communicator& comm) const;

  // Reads a checkpoint folder (weights, this rank's optimizer state, trainer state) and restores
  // this rank's RNG state when the world size matches. UserError naming the file when something is
  // malformed, and naming the folder and both settings when a run with distributed.zero:
  // `zero_stage` on `world_size` ranks cannot continue it (a ZeRO checkpoint's optimizer shards
  // fit only its own world size and zero setting).
  static CheckpointContents load(const std::string& folder, int rank, int world_size,
                                 int64_t zero_stage = 0);

  // Whether a folder is complete: DONE present and every listed file with its size and SHA-256.
  // On false, `why` says what is wrong.
  static bool verify(const std::string& folder, std::string* why);

  const std::string& directory() const { return directory_; }

 private:
  std::string directory_;
  int64_t keep_last_;
};

}  // namespace tokenfocus::trainer
