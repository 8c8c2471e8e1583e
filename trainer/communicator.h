// The collectives the trainer needs, behind one interface with two backends: MPI (CPU tensors; what
// CI runs) and NCCL (CUDA tensors, built when TOKENFOCUS_WITH_NCCL is defined). Every collective is
// bounded by a deadline (distributed.timeout_seconds): a rank that stops answering makes the others
// log which collective and which ranks are missing, then abort the job instead of hanging.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace tokenfocus::trainer {

enum class ReduceOp { kSum, kAverage };

// An asynchronous collective in flight. wait() returns when the result is in the tensor (or aborts
// the job on timeout); test() drives progress without blocking.
class CollectiveWork {
 public:
  virtual ~CollectiveWork() = default;
  virtual bool test() = 0;
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual std::string backend() const = 0;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual int local_rank() const = 0;  // rank among the processes of this node
  virtual int local_size() const = 0;  // processes of this node (they share its cores)
  // The device tensors must live on for this backend (CPU for MPI, cuda:local_rank for NCCL).
  virtual torch::Device device() const = 0;

  // In-place all-reduce of a contiguous tensor. Every rank must start collectives in the same
  // order.
  virtual std::unique_ptr<CollectiveWork> all_reduce_async(torch::Tensor tensor, ReduceOp op) = 0;
  void all_reduce(torch::Tensor tensor, ReduceOp op) { all_reduce_async(tensor, op)->wait(); }
  // ZeRO's two halves of an all-reduce, on contiguous tensors of one dtype. Reduce-scatter: `input`
  // (world_size() equal blocks) is summed or averaged over the ranks and block rank() of the result
  // lands in `output` (one block; must not overlap `input`).
  virtual std::unique_ptr<CollectiveWork> reduce_scatter_async(torch::Tensor input,
                                                               torch::Tensor output,
                                                               ReduceOp op) = 0;
  // All-gather of equal-size shards: `output` (world_size() blocks) receives every rank's `shard`
  // in rank order. In place (no copy) when `shard` is exactly block rank() of `output`.
  virtual std::unique_ptr<CollectiveWork> all_gather_async(torch::Tensor shard,
                                                           torch::Tensor output) = 0;
  // In-place broadcast of a contiguous tensor from `root`.
  virtual void broadcast(torch::Tensor tensor, int root) = 0;
  // Concatenates every rank's rows (dim 0 may differ between ranks; other dims must match), in
  // rank order.
  virtual torch::Tensor all_gather_rows(const torch::Tensor& rows) = 0;
  virtual void barrier() = 0;
  // True on every rank when `flag` is true on at least one rank (preemption, non-finite gradients).
  virtual bool any(bool flag) = 0;
  // Every rank's bytes, in rank order (control plane: layouts, messages).
  virtual std::vector<std::string> all_gather_bytes(const std::string& bytes) = 0;
};

struct CommunicatorOptions {
  std::string backend =
      "mpi";  // "mpi", "nccl" or "auto" (NCCL when built with it and a GPU is seen)
  double timeout_seconds = 60.0;
};

// Initialises MPI (once per process, MPI_THREAD_MULTIPLE requested) and builds the backend.
// Throws UserError for a backend that this build or this machine cannot run.
std::unique_ptr<Communicator> make_communicator(const CommunicatorOptions& options);

// Whether this binary was built with the NCCL backend.
bool nccl_compiled_in();

}  // namespace tokenfocus::trainer
