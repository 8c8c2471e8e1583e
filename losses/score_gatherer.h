// How the loss sees the other ranks. The trainer implements it over its communicator (MPI on CPU,
// NCCL on GPU); nullptr means a single process. Every rank calls the same gathers in the same order
// on every step (the calls depend on the config only, never on the data).
#pragma once

#include <torch/torch.h>

namespace tokenfocus::losses {

class ScoreGatherer {
 public:
  virtual ~ScoreGatherer() = default;
  // `local` is a contiguous 2-D float64 tensor [n_local, C] (n_local may be 0 and may differ
  // between ranks; C is the same on every rank). Returns the rows of all ranks concatenated in rank
  // order, [Σ n_r, C], float64, on the same device, without autograd history.
  virtual torch::Tensor all_gather_rows(const torch::Tensor& local) = 0;
  virtual int world_size() const = 0;
  virtual int rank() const = 0;
};

}  // namespace tokenfocus::losses
