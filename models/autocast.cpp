#include "models/autocast.h"

#include <ATen/autocast_mode.h>

namespace tokenfocus::models {

AutocastScope::AutocastScope(c10::DeviceType device, bool enabled)
    : device_(device), enabled_(enabled) {
  if (!enabled_) return;
  previous_enabled_ = at::autocast::is_autocast_enabled(device_);
  previous_dtype_ = at::autocast::get_autocast_dtype(device_);
  at::autocast::set_autocast_enabled(device_, true);
  at::autocast::set_autocast_dtype(device_, at::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!enabled_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(device_, previous_enabled_);
  at::autocast::set_autocast_dtype(device_, previous_dtype_);
}

bool AutocastScope::enabled(c10::DeviceType device) {
  return at::autocast::is_autocast_enabled(device);
}

std::string AutocastScope::dtype_name(c10::DeviceType device) {
  return c10::toString(at::autocast::get_autocast_dtype(device));
}

AutocastState AutocastState::current() {
  AutocastState state;
  state.cpu_enabled_ = at::autocast::is_autocast_enabled(c10::DeviceType::CPU);
  state.cpu_dtype_ = at::autocast::get_autocast_dtype(c10::DeviceType::CPU);
  state.cuda_enabled_ = at::autocast::is_autocast_enabled(c10::DeviceType::CUDA);
  state.cuda_dtype_ = at::autocast::get_autocast_dtype(c10::DeviceType::CUDA);
  return state;
}

AutocastState::Guard::Guard(const AutocastState& state) {
  const Saved wanted[] = {{c10::DeviceType::CPU, state.cpu_enabled_, state.cpu_dtype_},
                          {c10::DeviceType::CUDA, state.cuda_enabled_, state.cuda_dtype_}};
  for (const Saved& w : wanted) {
    previous_.push_back({w.device, at::autocast::is_autocast_enabled(w.device),
                         at::autocast::get_autocast_dtype(w.device)});
    at::autocast::set_autocast_enabled(w.device, w.enabled);
    at::autocast::set_autocast_dtype(w.device, w.dtype);
  }
  nested_ = state.cpu_enabled_ || state.cuda_enabled_;
  if (nested_) at::autocast::increment_nesting();
}

AutocastState::Guard::~Guard() {
  if (nested_ && at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  for (const Saved& p : previous_) {
    at::autocast::set_autocast_enabled(p.device, p.enabled);
    at::autocast::set_autocast_dtype(p.device, p.dtype);
  }
}

bool stores_bf16(const torch::nn::Module& module) {
  for (const auto& parameter : module.parameters(/*recurse=*/true))
    if (parameter.scalar_type() == torch::kBFloat16) return true;
  return false;
}

c10::DeviceType device_type_of(const torch::nn::Module& module) {
  const auto parameters = module.parameters(/*recurse=*/true);
  return parameters.empty() ? c10::DeviceType::CPU : parameters.front().device().type();
}

}  // namespace tokenfocus::models
