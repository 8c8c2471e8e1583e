// The linear layer every backbone uses. Parameter names are those of torch.nn.Linear ("weight",
// "bias"), so Hugging Face state dicts load unchanged; LoRA adds the sub-modules "lora_A" and
// "lora_B" exactly as PEFT names them ("...q_proj.lora_A.weight").
#pragma once

#include <torch/torch.h>

namespace tokenfocus::models {

struct LoraSettings {
  int64_t rank = 8;
  double alpha = 16.0;
  double dropout = 0.0;
};

class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features, bool with_bias);

  torch::Tensor forward(const torch::Tensor& input);

  // Adds trainable low-rank factors: A ~ kaiming-uniform (PEFT's default), B = 0, so the layer's
  // output is unchanged until B is trained. scaling = alpha / rank.
  void add_lora(const LoraSettings& settings);
  bool has_lora() const { return lora_a_.defined(); }
  // weight += scaling · B·A, then the factors are removed (the layer is plain again).
  void merge_lora();

  int64_t in_features() const { return weight.size(1); }
  int64_t out_features() const { return weight.size(0); }
  torch::Tensor lora_a() const { return lora_a_; }
  torch::Tensor lora_b() const { return lora_b_; }
  double lora_scaling() const { return lora_scaling_; }

  torch::Tensor weight;  // [out, in]
  torch::Tensor bias;    // [out] or undefined

 private:
  torch::Tensor lora_a_;  // [rank, in]
  torch::Tensor lora_b_;  // [out, rank]
  double lora_scaling_ = 0.0;
  torch::nn::Dropout lora_dropout_{nullptr};
};
TORCH_MODULE(Linear);

}  // namespace tokenfocus::models
