// ZeRO stage 1 AdamW (the executor of trainer/zero_shard_layout.h): each rank keeps exp_avg and
// exp_avg_sq for its shard of the flat parameter space only (1/N of AdamW's state), runs the same
// fused AdamW kernel as AdamW (at::_fused_adamw_, so every element sees DDP's arithmetic) on the
// shard's averaged gradients, which the reducer reduce-scattered during backward, then all-gathers
// the updated shards, one collective per bucket, straight into the parameters: every trainable
// parameter becomes a view into a flat per-bucket buffer laid out like its gradient bucket.
// Clipping uses the global norm (squared shard norms all-reduced), identical on every rank.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "trainer/gradient_reducer.h"
#include "trainer/optimizer.h"
#include "trainer/zero_shard_layout.h"

namespace tokenfocus::trainer {

class ZeroAdamW {
 public:
  // `reducer` uses GradientSync::kReduceScatter and outlives this optimizer. Parameters keep their
  // values (and their gradient views and hooks); only their storage moves into the flat buffers.
  ZeroAdamW(GradientReducer& reducer, AdamWOptions options);

  // After reducer.finish_backward(): the global L2 norm of the averaged gradients (a double, the
  // same on every rank); scales this rank's shard by clip_grad_norm's min(1, max_norm / (norm +
  // 1e-6)) when max_norm > 0 and the norm is finite.
  double clip_grad_norm(double max_norm);
  // AdamW with learning rate `lr` on this rank's shard, then the all-gather: collective.
  void step(double lr);
  int64_t steps_taken() const { return step_; }

  // This rank's shard: "step", "shard_layout" (world size, rank, each bucket's padded size),
  // "exp_avg/bucket<b>", "exp_avg_sq/bucket<b>".
  std::map<std::string, torch::Tensor> state_dict() const;
  // UserError naming `source` when an entry is missing or misshapen, or the layout differs.
  void load_state_dict(const std::map<std::string, torch::Tensor>& state,
                       const std::string& source);

  int64_t state_bytes() const;  // exp_avg + exp_avg_sq held by this rank
  const ZeroShardLayout& layout() const { return layout_; }

 private:
  struct Group {  // one at::_fused_adamw_ call: one weight-decay setting
    std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs;
  };
  torch::Tensor layout_tensor() const;

  GradientReducer& reducer_;
  Communicator& comm_;
  AdamWOptions options_;
  ZeroShardLayout layout_;
  std::vector<torch::Tensor> flat_parameters_;       // per bucket, padded; the parameters view them
  std::vector<torch::Tensor> exp_avg_, exp_avg_sq_;  // per bucket, this rank's block
  Group decay_, no_decay_;
  int64_t step_ = 0;
};

}  // namespace tokenfocus::trainer
