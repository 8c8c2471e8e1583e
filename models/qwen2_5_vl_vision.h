// The Qwen2.5-VL vision tower (Hugging Face `visual.*`): Qwen2-VL's patch embedding and 2-D rotary
// embedding, RMSNorm and a SwiGLU MLP with biases in every block, window attention (windows of
// window_size pixels) except in `fullatt_block_indexes`, and an RMSNorm patch merger. The patches
// are permuted window by window before the blocks and the merged tokens un-permuted after.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "models/qwen2_vl_vision.h"

namespace tokenfocus::models {

struct WindowIndex {
  std::vector<int64_t> window_index;       // merged unit order, window by window
  std::vector<int64_t> cu_window_seqlens;  // window bounds in patches (empty windows dropped)
};
// Hugging Face's get_window_index for `grid_thw`.
WindowIndex qwen2_5_window_index(const torch::Tensor& grid_thw, const HfVisionConfig& config);

class Qwen2_5VisionBlockImpl : public torch::nn::Module {
 public:
  explicit Qwen2_5VisionBlockImpl(const HfVisionConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const std::vector<int64_t>& bounds);
  RmsNorm norm1{nullptr}, norm2{nullptr};
  VisionAttention attn{nullptr};
  SwiGluMlp mlp{nullptr};
};
TORCH_MODULE(Qwen2_5VisionBlock);

class Qwen2_5VisionTower : public VisionTower {
 public:
  explicit Qwen2_5VisionTower(const HfVisionConfig& config);
  torch::Tensor forward(const torch::Tensor& pixel_values, const torch::Tensor& grid_thw,
                        VisionTrace* trace = nullptr) override;
  void freeze(bool frozen) override;

  PatchEmbed patch_embed{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  PatchMerger merger{nullptr};

 private:
  HfVisionConfig config_;
};

}  // namespace tokenfocus::models
