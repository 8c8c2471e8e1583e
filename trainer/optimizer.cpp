#include "trainer/optimizer.h"

#include <cmath>

#include "common/error.h"
#include "models/state_dict.h"

namespace tokenfocus::trainer {

bool decays(const NamedParameter& parameter) {
  const auto& name = parameter.name;
  if (parameter.tensor.dim() < 2) return false;
  return name.find("norm") == std::string::npos && name.find("bias") == std::string::npos;
}

AdamW::AdamW(std::vector<NamedParameter> parameters, AdamWOptions options)
    : parameters_(std::move(parameters)), options_(options) {
  for (const auto& p : parameters_) {
    decay_.push_back(decays(p));
    exp_avg_.push_back(torch::zeros_like(p.tensor, torch::MemoryFormat::Preserve).detach());
    exp_avg_sq_.push_back(torch::zeros_like(p.tensor, torch::MemoryFormat::Preserve).detach());
  }
}

void AdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  ++step_;
  // torch.optim.AdamW(fused=True): ATen's fused kernel (CPU and CUDA) reads and writes each tensor
  // once, where the per-tensor loop of foreach=False makes six passes and two temporaries. Measured
  // on 90 M parameters, 1 thread: 0.11 s against 0.55 s. One call per weight-decay group.
  // The kernel reads the (already incremented) step count from a float tensor per parameter, and
  // only reads it: one tensor per device serves every parameter there.
  torch::Tensor step_count;
  auto step_count_on = [&](const torch::Device& device) {
    if (!step_count.defined() || step_count.device() != device)
      step_count = torch::full({}, static_cast<double>(step_),
                               torch::TensorOptions().dtype(torch::kFloat).device(device));
    return step_count;
  };
  for (const bool decay : {true, false}) {
    std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs, steps;
    for (size_t k = 0; k < parameters_.size(); ++k) {
      const auto& grad = parameters_[k].tensor.grad();
      if (decay_[k] != decay || !grad.defined()) continue;
      params.push_back(parameters_[k].tensor.detach());
      grads.push_back(grad);
      exp_avgs.push_back(exp_avg_[k]);
      exp_avg_sqs.push_back(exp_avg_sq_[k]);
      steps.push_back(step_count_on(grad.device()));
    }
    if (params.empty()) continue;
    at::_fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, /*max_exp_avg_sqs=*/{}, steps, lr,
                      options_.beta1, options_.beta2, decay ? options_.weight_decay : 0.0,
                      options_.eps, /*amsgrad=*/false, /*maximize=*/false);
  }
}

int64_t AdamW::state_bytes() const {
  int64_t bytes = 0;
  for (size_t k = 0; k < exp_avg_.size(); ++k)
    bytes += (exp_avg_[k].numel() + exp_avg_sq_[k].numel()) * exp_avg_[k].element_size();
  return bytes;
}

std::map<std::string, torch::Tensor> AdamW::state_dict() const {
  std::map<std::string, torch::Tensor> state;
  state["step"] = torch::tensor({step_}, torch::kLong);
  for (size_t k = 0; k < parameters_.size(); ++k) {
    state["exp_avg/" + parameters_[k].name] = exp_avg_[k];
    state["exp_avg_sq/" + parameters_[k].name] = exp_avg_sq_[k];
  }
  return state;
}

void AdamW::load_state_dict(const std::map<std::string, torch::Tensor>& state,
                            const std::string& source) {
  auto get = [&](const std::string& key, const torch::Tensor& like) -> const torch::Tensor& {
    const auto it = state.find(key);
    if (it == state.end()) throw_user_error("{}: no tensor '{}'", source, key);
    if (like.defined() &&
        (it->second.sizes() != like.sizes() || it->second.scalar_type() != like.scalar_type()))
      throw_user_error("{}: tensor '{}' is {}, the optimizer expects {}", source, key,
                       models::tensor_text(it->second), models::tensor_text(like));
    return it->second;
  };
  const torch::Tensor& step = get("step", torch::Tensor());
  if (step.numel() != 1 || step.scalar_type() != torch::kLong)
    throw_user_error("{}: tensor 'step' is {}, expected Long [1]", source,
                     models::tensor_text(step));
  step_ = step.item<int64_t>();
  torch::NoGradGuard no_grad;
  for (size_t k = 0; k < parameters_.size(); ++k) {
    exp_avg_[k].copy_(get("exp_avg/" + parameters_[k].name, exp_avg_[k]));
    exp_avg_sq_[k].copy_(get("exp_avg_sq/" + parameters_[k].name, exp_avg_sq_[k]));
  }
}

double clip_grad_norm(const std::vector<NamedParameter>& parameters, double max_norm) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> norms;
  for (const auto& p : parameters)
    if (p.tensor.grad().defined()) norms.push_back(p.tensor.grad().detach().norm(2));
  if (norms.empty()) return 0.0;
  const auto total = torch::stack(norms).norm(2);
  const double value = total.item<double>();
  if (!std::isfinite(value) || max_norm <= 0) return value;
  const auto coefficient = torch::clamp_max(max_norm / (total + 1e-6), 1.0);
  for (const auto& p : parameters)
    if (p.tensor.grad().defined())
      p.tensor.grad().detach().mul_(coefficient.to(p.tensor.grad().device()));
  return value;
}

}  // namespace tokenfocus::trainer
