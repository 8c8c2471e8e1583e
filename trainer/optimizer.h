// AdamW (decoupled weight decay, the update of torch.optim.AdamW with amsgrad=False, fused=True)
// over two parameter groups: weights decay; biases, norms and every 1-D tensor do not. Its whole
// state is a name -> tensor map so that checkpoints can store it. Also global-norm clipping with
// torch.nn.utils.clip_grad_norm_'s arithmetic.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "trainer/gradient_reducer.h"

namespace tokenfocus::trainer {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};

// Whether weight decay applies: not to biases, norms or any tensor with fewer than two dimensions.
bool decays(const NamedParameter& parameter);

class AdamW {
 public:
  AdamW(std::vector<NamedParameter> parameters, AdamWOptions options);

  // One update with learning rate `lr` from the parameters' current .grad.
  void step(double lr);
  int64_t steps_taken() const { return step_; }
  int64_t state_bytes() const;  // exp_avg + exp_avg_sq: the whole model's, on every rank

  // "step", "exp_avg/<name>", "exp_avg_sq/<name>".
  std::map<std::string, torch::Tensor> state_dict() const;
  // Throws UserError naming `source` (the file it came from) and the missing, misshapen or mistyped
  // entry.
  void load_state_dict(const std::map<std::string, torch::Tensor>& state,
                       const std::string& source = "optimizer state");

 private:
  std::vector<NamedParameter> parameters_;
  std::vector<char> decay_;
  std::vector<torch::Tensor> exp_avg_, exp_avg_sq_;
  AdamWOptions options_;
  int64_t step_ = 0;
};

// Total L2 norm of all gradients (as a double), then scales them by min(1, max_norm / (norm +
// 1e-6)) when max_norm > 0. A non-finite norm is returned unchanged and nothing is scaled.
double clip_grad_norm(const std::vector<NamedParameter>& parameters, double max_norm);

}  // namespace tokenfocus::trainer
