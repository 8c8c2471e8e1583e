// Mixed precision of the training forward (optim.precision). bf16 runs the forward under CUDA
// autocast (matmuls and convolutions in bfloat16, reductions and softmax in float32, as
// torch.autocast(device_type="cuda", dtype=torch.bfloat16) does); parameters, gradients, AdamW
// state and predictions stay float32, so no loss scaling is needed. CPU runs are fp32 only.
#pragma once

#include <string>

namespace tokenfocus::trainer {

// Whether `precision` ("fp32" | "bf16") can run with tensors on `device_type` ("cpu", "cuda", as
// torch::Device::str() prefixes it). UserError naming optim.precision when it cannot: bf16 on a
// CPU run, or bf16 with a libtorch built without CUDA.
void check_precision(const std::string& precision, const std::string& device_type);

// While alive (and `enabled`), CUDA autocast to bfloat16 is on for this thread; the previous
// autocast state is restored on destruction (libtorch 2.x's device-generic autocast API).
class AutocastScope {
 public:
  explicit AutocastScope(bool enabled);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

  // Whether CUDA autocast is on for this thread, and its dtype's name ("BFloat16", "Half").
  static bool cuda_autocast_enabled();
  static std::string cuda_autocast_dtype();

 private:
  bool enabled_;
  bool previous_enabled_ = false;
  int previous_dtype_ = 0;  // at::ScalarType
};

}  // namespace tokenfocus::trainer
