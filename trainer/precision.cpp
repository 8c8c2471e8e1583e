#include "trainer/precision.h"

#include "common/error.h"

namespace tokenfocus::trainer {
namespace {

void check_precision(const std::string& precision) {
  if (precision != "fp32" && precision != "bf16")
    throw_user_error("optim.precision: '{}' is not one of fp32, bf16", precision);
}

}  // namespace

torch::ScalarType load_dtype_for(const std::string& precision, const std::string& finetune) {
  check_precision(precision);
  return precision == "bf16" && finetune == "lora" ? torch::kBFloat16 : torch::kFloat;
}

int store_weights_for(const std::string& precision, torch::nn::Module& module) {
  check_precision(precision);
  if (precision == "fp32") return 0;
  torch::NoGradGuard no_grad;
  int changed = 0;
  for (auto& parameter : module.parameters(/*recurse=*/true)) {
    if (!torch::isFloatingType(parameter.scalar_type())) continue;
    const torch::ScalarType wanted = parameter.requires_grad() ? torch::kFloat : torch::kBFloat16;
    if (parameter.scalar_type() == wanted) continue;
    parameter.set_data(parameter.to(wanted));
    ++changed;
  }
  return changed;
}

}  // namespace tokenfocus::trainer
