#include "trainer/precision.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "common/error.h"

// libtorch 2.4 made autocast device-generic and deprecated the CUDA-only calls of 1.x-2.3.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define TOKENFOCUS_AUTOCAST_BY_DEVICE 1
#else
#define TOKENFOCUS_AUTOCAST_BY_DEVICE 0
#endif

namespace tokenfocus::trainer {
namespace {

void set_cuda_autocast(bool enabled, at::ScalarType dtype) {
#if TOKENFOCUS_AUTOCAST_BY_DEVICE
  at::autocast::set_autocast_enabled(at::kCUDA, enabled);
  at::autocast::set_autocast_dtype(at::kCUDA, dtype);
#else
  at::autocast::set_enabled(enabled);
  at::autocast::set_autocast_gpu_dtype(dtype);
#endif
}

at::ScalarType cuda_autocast_scalar_type() {
#if TOKENFOCUS_AUTOCAST_BY_DEVICE
  return at::autocast::get_autocast_dtype(at::kCUDA);
#else
  return at::autocast::get_autocast_gpu_dtype();
#endif
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
  previous_dtype_ = static_cast<int>(cuda_autocast_scalar_type());
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
#if TOKENFOCUS_AUTOCAST_BY_DEVICE
  return at::autocast::is_autocast_enabled(at::kCUDA);
#else
  return at::autocast::is_enabled();
#endif
}

std::string AutocastScope::cuda_autocast_dtype() {
  return c10::toString(cuda_autocast_scalar_type());
}

}  // namespace tokenfocus::trainer
