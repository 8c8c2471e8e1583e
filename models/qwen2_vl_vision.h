// The Qwen2-VL vision tower (Hugging Face `visual.*`): Conv3d patch embedding (computed as one
// matmul), ViT blocks with 2-D rotary embedding attending only within each image, and the 2×2
// patch merger that projects into the LLM. Also the pieces Qwen2.5-VL's tower reuses.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "models/hf_config.h"
#include "models/linear.h"
#include "models/qwen2_decoder.h"

namespace tokenfocus::models {

// Intermediate tensors for parity checks (the golden case files hold the same ones).
struct VisionTrace {
  torch::Tensor patch_embed;          // [P,D]
  std::vector<torch::Tensor> blocks;  // [P,D] each (Qwen2.5-VL: window-permuted order)
  torch::Tensor merger_raw;           // [N,out] before un-permuting
  torch::Tensor window_index;         // Qwen2.5-VL: [N] permutation of merged units
  torch::Tensor cu_window_seqlens;    // Qwen2.5-VL: [n+1] window bounds in patches
};

class VisionTower : public torch::nn::Module {
 public:
  // pixel_values [P, C·T·patch²] in processor order, grid_thw [n_img,3]: merged embeddings
  // [P/merge², out_hidden] in image order.
  virtual torch::Tensor forward(const torch::Tensor& pixel_values, const torch::Tensor& grid_thw,
                                VisionTrace* trace = nullptr) = 0;
  // Patch embedding and blocks stop (or resume) taking gradients; the merger always trains.
  virtual void freeze(bool frozen) = 0;
  void set_gradient_checkpointing(bool enabled) { checkpointing_ = enabled; }

 protected:
  bool checkpointing_ = false;
};

// Conv3d(C, D, kernel = stride = (T, p, p), no bias) over pre-cut patches = x · W.view(D,-1)ᵀ.
// Parameter "proj.weight" [D,C,T,p,p] as in Hugging Face.
class PatchEmbedImpl : public torch::nn::Module {
 public:
  PatchEmbedImpl(int64_t in_channels, int64_t temporal, int64_t patch, int64_t dim);
  torch::Tensor forward(const torch::Tensor& patches);
  torch::Tensor weight;
};
TORCH_MODULE(PatchEmbed);

// Rotary frequencies [P, head_dim/2] for the patches of grid_thw in processor order: the first
// half rotates by the patch row, the second by the patch column (Hugging Face's rot_pos_emb).
torch::Tensor vision_rotary_freqs(const torch::Tensor& grid_thw, int64_t head_dim, int64_t merge,
                                  const torch::TensorOptions& options);
// Cumulative patch counts per image frame: [0, h·w, 2·h·w, ...] (attention stays inside).
std::vector<int64_t> image_segments(const torch::Tensor& grid_thw);

// qkv → 2-D rotary → attention inside each segment [bounds[i], bounds[i+1]) → proj.
class VisionAttentionImpl : public torch::nn::Module {
 public:
  VisionAttentionImpl(int64_t dim, int64_t heads);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const std::vector<int64_t>& bounds);
  Linear qkv{nullptr}, proj{nullptr};

 private:
  int64_t heads_;
};
TORCH_MODULE(VisionAttention);

// fc1 → quick_gelu / gelu / silu → fc2.
class VisionMlpImpl : public torch::nn::Module {
 public:
  VisionMlpImpl(int64_t dim, int64_t hidden, std::string activation);
  torch::Tensor forward(const torch::Tensor& x);
  Linear fc1{nullptr}, fc2{nullptr};

 private:
  std::string activation_;
};
TORCH_MODULE(VisionMlp);

class Qwen2VisionBlockImpl : public torch::nn::Module {
 public:
  explicit Qwen2VisionBlockImpl(const HfVisionConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const std::vector<int64_t>& bounds);
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  VisionAttention attn{nullptr};
  VisionMlp mlp{nullptr};
};
TORCH_MODULE(Qwen2VisionBlock);

// ln_q (LayerNorm for Qwen2-VL, RMSNorm for Qwen2.5-VL) → group merge² neighbours → MLP
// (mlp.0, GELU, mlp.2) into the LLM width.
class PatchMergerImpl : public torch::nn::Module {
 public:
  PatchMergerImpl(int64_t context_dim, int64_t out_dim, int64_t merge, bool rms_norm);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::LayerNorm layer_norm_{nullptr};
  RmsNorm rms_norm_{nullptr};
  Linear fc0_{nullptr}, fc2_{nullptr};
  int64_t grouped_dim_;
};
TORCH_MODULE(PatchMerger);

class Qwen2VisionTower : public VisionTower {
 public:
  explicit Qwen2VisionTower(const HfVisionConfig& config);
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
