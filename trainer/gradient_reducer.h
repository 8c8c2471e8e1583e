// Data-parallel gradient averaging after PyTorch DDP's Reducer: parameters are grouped into buckets
// (~distributed.bucket_mb each) in reverse registration order, because backward produces gradients
// roughly in that order; each parameter's .grad is a view into its bucket's flat buffer, so a
// bucket is reduced with one collective and no copies. A hook on each parameter's gradient
// accumulator counts ready gradients; when a bucket's last gradient is ready its asynchronous
// all-reduce starts while backward continues. Buckets are started strictly in index order, the same
// on every rank, and every bucket is reduced on every synchronising step, used or not, so that
// ranks never issue a data-dependent sequence of collectives.
//
// ZeRO-1 (GradientSync::kReduceScatter): the same buckets, each padded to a multiple of the world
// size (trainer/zero_shard_layout.h), are reduce-scattered instead: after finish_backward a
// bucket's `shard` holds this rank's block of the averaged gradients, while the .grad views keep
// this rank's own (unreduced) sums; only the shard may feed the optimizer.
//
// Threads: on CPU, libtorch runs backward (and so these hooks) on the thread that called
// backward(); collectives therefore start from that thread. MPI is initialised with
// MPI_THREAD_MULTIPLE anyway, so CUDA builds whose autograd runs hooks on device threads stay
// legal.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "trainer/communicator.h"

namespace tokenfocus::trainer {

struct NamedParameter {
  std::string name;
  torch::Tensor tensor;
};

// The trainable parameters of a module, in registration order.
std::vector<NamedParameter> trainable_parameters(const torch::nn::Module& module);

// Stops every rank with one UserError unless all ranks have the same config hash and the same
// parameter names, shapes and dtypes; the message names the first rank and parameter that differ.
void verify_ranks_agree(Communicator& comm, const std::string& config_hash,
                        const std::vector<NamedParameter>& parameters);

enum class GradientSync {
  kAllReduce,      // DDP: every rank ends with every averaged gradient
  kReduceScatter,  // ZeRO-1: every rank ends with its block of each bucket, averaged
};

class GradientReducer {
 public:
  struct Bucket {
    torch::Tensor buffer;            // flat; the parameters' .grad are views into it
    torch::Tensor shard;             // kReduceScatter: this rank's averaged block of `buffer`
    std::vector<size_t> parameters;  // indices into parameters(), in bucket order
    int64_t pending = 0;             // gradients not yet ready in this backward
    std::unique_ptr<CollectiveWork> work;
  };

  // Verifies the ranks agree, lays out the buckets and installs the hooks. bucket_mb > 0.
  GradientReducer(Communicator& comm, std::vector<NamedParameter> parameters, double bucket_mb,
                  const std::string& config_hash, GradientSync sync = GradientSync::kAllReduce);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Copies rank 0's parameter values to every rank (bucket by bucket, one broadcast each).
  void broadcast_parameters();
  // false on gradient-accumulation micro-steps: gradients only accumulate locally, no collective.
  void set_sync(bool sync) { sync_ = sync; }
  bool sync() const { return sync_; }
  // Zeroes every bucket in place (the .grad views must stay views).
  void zero_grad();
  // After backward on a synchronising step: starts the buckets that hooks have not started (unused
  // parameters) in order, waits for all, and leaves every .grad (kAllReduce) or every bucket's
  // shard (kReduceScatter) averaged over the ranks.
  void finish_backward();

  const std::vector<NamedParameter>& parameters() const { return parameters_; }
  const std::vector<Bucket>& buckets() const { return buckets_; }
  GradientSync sync_mode() const { return mode_; }
  Communicator& communicator() const { return comm_; }
  double last_wait_seconds() const { return last_wait_seconds_; }  // blocked in finish_backward

 private:
  void on_gradient_ready(size_t parameter);
  void launch_ready_buckets();
  void launch(size_t bucket);
  void reset_pending();

  Communicator& comm_;
  GradientSync mode_;
  std::vector<NamedParameter> parameters_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;      // parameter -> bucket
  std::vector<char> ready_this_step_;  // guards against a hook firing twice in one backward
  size_t next_bucket_ = 0;             // buckets launch in index order only
  bool sync_ = true;
  double last_wait_seconds_ = 0;
  struct Hook;
  std::vector<std::unique_ptr<Hook>> hooks_;
};

}  // namespace tokenfocus::trainer
