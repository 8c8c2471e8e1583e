// `optim:` — AdamW, schedule, batch sizes, clipping.
#pragma once

#include <cstdint>
#include <string>

#include "common/config/check.h"

namespace tokenfocus::config {

struct OptimConfig {
  double lr = 1e-4;
  double weight_decay = 0.01;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  std::string schedule = "cosine";
  double warmup_ratio = 0.05;
  int64_t epochs = 1;
  int64_t micro_batch_size = 4;  // per rank
  int64_t grad_accum_steps = 1;
  double max_grad_norm = 1.0;      // 0 = no clipping
  std::string nonfinite = "skip";  // what a NaN/Inf gradient does: skip the step, or stop
  // Training forward: fp32, or bf16 autocast (CUDA only; a CPU run asking for it stops with an
  // error naming this key). Weights, gradients, optimizer state and predictions stay float32.
  std::string precision = "fp32";
  // > 0: a micro-batch (and a predict batch) runs through the model in forwards of at most this
  // many padded tokens (rows × longest row), whole samples each; the loss is still one over the
  // micro-batch. With gradient checkpointing the activation peak then follows this budget instead
  // of the micro-batch's sample count. 0 = one forward per micro-batch.
  int64_t forward_tokens = 0;
  template <class V>
  void describe(V& v) {
    v("lr", lr, positive());
    v("weight_decay", weight_decay, at_least(0));
    v("beta1", beta1, in_range(0, 1));
    v("beta2", beta2, in_range(0, 1));
    v("eps", eps, positive());
    v("schedule", schedule, one_of({"cosine", "linear", "constant"}));
    v("warmup_ratio", warmup_ratio, in_range(0, 1));
    v("epochs", epochs, at_least(1));
    v("micro_batch_size", micro_batch_size, at_least(1));
    v("grad_accum_steps", grad_accum_steps, at_least(1));
    v("max_grad_norm", max_grad_norm, at_least(0));
    v("nonfinite", nonfinite, one_of({"skip", "stop"}));
    v("precision", precision, one_of({"fp32", "bf16"}));
    v("forward_tokens", forward_tokens, at_least(0));
  }
};

}  // namespace tokenfocus::config
