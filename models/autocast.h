// Mixed precision of a forward: autocast to bfloat16 on the CPU or on CUDA (libtorch 2.x's
// device-generic autocast, the state torch.autocast(device_type, dtype=torch.bfloat16) sets), and
// the rule that ties it to storage: a model that stores weights in bfloat16 (optim.precision: bf16
// keeps frozen weights in bf16) computes under bf16 autocast wherever it runs — training,
// prediction, an exported scorer — so its results do not depend on who called it.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

namespace tokenfocus::models {

// While alive (and `enabled`), autocast to bfloat16 is on for `device` on this thread; the previous
// state is restored on destruction, and the cast cache is cleared when the outermost scope ends
// (as torch.autocast.__exit__ does).
class AutocastScope {
 public:
  AutocastScope(c10::DeviceType device, bool enabled);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

  static bool enabled(c10::DeviceType device);
  static std::string dtype_name(c10::DeviceType device);  // "BFloat16", "Half", "Float"

 private:
  c10::DeviceType device_;
  bool enabled_;
  bool previous_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kBFloat16;
};

// The autocast state of this thread for the CPU and CUDA, captured when a checkpointed block runs
// forward and re-entered for its recompute in backward (which runs outside the forward's scopes),
// as torch.utils.checkpoint stashes and restores it.
class AutocastState {
 public:
  static AutocastState current();

  // Makes this state current until the returned guard is destroyed.
  class Guard {
   public:
    explicit Guard(const AutocastState& state);
    ~Guard();
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

   private:
    struct Saved {
      c10::DeviceType device;
      bool enabled;
      at::ScalarType dtype;
    };
    std::vector<Saved> previous_;
    bool nested_ = false;
  };

 private:
  bool cpu_enabled_ = false, cuda_enabled_ = false;
  at::ScalarType cpu_dtype_ = at::kBFloat16, cuda_dtype_ = at::kBFloat16;
};

// Whether any floating parameter of `module` is stored in bfloat16.
bool stores_bf16(const torch::nn::Module& module);

// Where a module computes (the device of its first parameter; CPU for a module without any).
c10::DeviceType device_type_of(const torch::nn::Module& module);

}  // namespace tokenfocus::models

namespace tokenfocus::models {

// The autocast `module`'s storage asks for: bf16 on its device when it stores bf16, else none.
// Every backbone entry point (forward_full, hidden_at, focus_logits) opens one.
class StorageAutocast : public AutocastScope {
 public:
  explicit StorageAutocast(const torch::nn::Module& module)
      : AutocastScope(device_type_of(module), stores_bf16(module)) {}
};

}  // namespace tokenfocus::models
