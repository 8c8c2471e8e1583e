#include "models/linear.h"

#include <cmath>

namespace tokenfocus::models {
namespace {

// A parameter holder whose only parameter is "weight", so names read "lora_A.weight" as in PEFT.
std::shared_ptr<torch::nn::Module> factor_module(const torch::Tensor& value, torch::Tensor& slot) {
  auto module = std::make_shared<torch::nn::Module>();
  slot = module->register_parameter("weight", value);
  return module;
}

}  // namespace

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features, bool with_bias) {
  // torch.nn.Linear's default initialisation; checkpoints overwrite it.
  weight = register_parameter("weight", torch::empty({out_features, in_features}));
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (with_bias) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
    bias = register_parameter("bias", torch::empty({out_features}).uniform_(-bound, bound));
  }
}

torch::Tensor LinearImpl::forward(const torch::Tensor& input) {
  torch::Tensor output = torch::nn::functional::linear(input, weight, bias);
  if (has_lora()) {
    // PEFT casts the input to the factors' dtype (float32) first; under autocast the two matmuls
    // still run in bf16, and the dropout mask is drawn on the same float32 tensor as there.
    const torch::Tensor cast = input.to(lora_a_.scalar_type());
    torch::Tensor x = lora_dropout_ ? lora_dropout_->forward(cast) : cast;
    output =
        output + torch::nn::functional::linear(torch::nn::functional::linear(x, lora_a_), lora_b_) *
                     lora_scaling_;
  }
  return output;
}

void LinearImpl::add_lora(const LoraSettings& settings) {
  TORCH_CHECK(!has_lora(), "LoRA was already added to this layer");
  TORCH_CHECK(settings.rank > 0, "LoRA rank must be positive");
  // Trainable factors are float32 master weights even over a bf16 base (PEFT's
  // autocast_adapter_dtype): AdamW updates them in float32.
  const auto options = weight.options().dtype(torch::kFloat).requires_grad(true);
  torch::Tensor a = torch::empty({settings.rank, in_features()}, options);
  {
    torch::NoGradGuard no_grad;
    torch::nn::init::kaiming_uniform_(a, std::sqrt(5.0));
  }
  torch::Tensor b = torch::zeros({out_features(), settings.rank}, options);
  register_module("lora_A", factor_module(a, lora_a_));
  register_module("lora_B", factor_module(b, lora_b_));
  lora_scaling_ = settings.alpha / static_cast<double>(settings.rank);
  if (settings.dropout > 0.0)
    lora_dropout_ = register_module("lora_dropout", torch::nn::Dropout(settings.dropout));
}

void LinearImpl::merge_lora() {
  if (!has_lora()) return;
  {
    torch::NoGradGuard no_grad;
    // In float32, then rounded once into the base's dtype (PEFT's merge over a bf16 base).
    weight.add_((torch::matmul(lora_b_, lora_a_) * lora_scaling_).to(weight.scalar_type()));
  }
  unregister_module("lora_A");
  unregister_module("lora_B");
  if (lora_dropout_) unregister_module("lora_dropout");
  lora_a_ = torch::Tensor();
  lora_b_ = torch::Tensor();
  lora_dropout_ = torch::nn::Dropout(nullptr);
  lora_scaling_ = 0.0;
}

}  // namespace tokenfocus::models
