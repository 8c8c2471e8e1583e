// Central finite differences in double precision, to check analytic gradients of the loss terms.
#pragma once

#include <functional>

#include <torch/torch.h>

namespace tokenfocus::losses::testing {

// d f / d x by central differences (step h), x float64; f returns a scalar tensor.
inline torch::Tensor numeric_gradient(const std::function<torch::Tensor(const torch::Tensor&)>& f,
                                      const torch::Tensor& x, double h = 1e-6) {
  torch::NoGradGuard no_grad;
  auto grad = torch::zeros_like(x);
  auto flat_x = x.clone().contiguous();
  auto* data = flat_x.data_ptr<double>();
  auto* out = grad.data_ptr<double>();
  for (int64_t i = 0; i < flat_x.numel(); ++i) {
    const double saved = data[i];
    data[i] = saved + h;
    const double up = f(flat_x).item<double>();
    data[i] = saved - h;
    const double down = f(flat_x).item<double>();
    data[i] = saved;
    out[i] = (up - down) / (2 * h);
  }
  return grad;
}

// The analytic gradient of f at x through autograd.
inline torch::Tensor analytic_gradient(const std::function<torch::Tensor(const torch::Tensor&)>& f,
                                       const torch::Tensor& x) {
  auto leaf = x.clone().set_requires_grad(true);
  f(leaf).backward();
  return leaf.grad();
}

// Largest |a - b| / max(1, |b|).
inline double max_relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs() / b.abs().clamp_min(1.0)).max().item<double>();
}

}  // namespace tokenfocus::losses::testing
