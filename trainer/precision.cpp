#include "trainer/precision.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "common/error.h"

namespace tokenfocus::trainer {
namespace {

// libtorch 2.x's device-generic autocast state (the CUDA-only calls of 1.x are gone).
void set_cuda_autocast(bool enabled, at::ScalarType dtype) {
  at::autocast::set_autocast_enabled(at::kCUDA, enabled);
  at::autocast::set_autocast_dtype(at::kCUDA, dtype);
}

}  // namespace

void check_precision(const std::string& precision, const std::string& device_type) {
  if (precision == "fp32") return;
  if (precision != "bf16")
    throw_user_error("optim.precision: '{}' is not one of fp32, bf16", precision);
  if (device_type != "cuda")
    throw_user_error(
        "optim.precision: bf16 autocast needs CUDA, but this run's tensors are on {} (no GPU, or "
        "distributed.backend is mpi); set optim.precision: fp32 for CPU training",
        device_type);
  if (!torch::cuda::is_available())
    throw_user_error(
        "optim.precision: bf16 autocast needs CUDA, and this libtorch ({}) sees no CUDA device",
        TORCH_VERSION);
}

AutocastScope::AutocastScope(bool enabled) : enabled_(enabled) {
  if (!enabled_) return;
  previous_enabled_ = cuda_autocast_enabled();
  previous_dtype_ = static_cast<int>(at::autocast::get_autocast_dtype(at::kCUDA));
  set_cuda_autocast(true, at::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!enabled_) return;
  // Like torch.autocast.__exit__: the cast cache lives until the outermost scope ends.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_cuda_autocast(previous_enabled_, static_cast<at::ScalarType>(previous_dtype_));
}

bool AutocastScope::cuda_autocast_enabled() {
  return at::autocast::is_autocast_enabled(at::kCUDA);
}

std::string AutocastScope::cuda_autocast_dtype() {
  return c10::toString(at::autocast::get_autocast_dtype(at::kCUDA));
}

}  // namespace tokenfocus::trainer
