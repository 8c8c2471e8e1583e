// InternViT (OpenGVLab's InternVisionModel, `vision_model.*`): patch embedding (a stride-14 conv
// computed as one matmul over unfolded patches) + class token + position embedding bicubically
// resized to the tile's patch grid, then pre-norm blocks with layer scale (ls1, ls2), LayerNorm
// or RMSNorm per config and optional q/k RMS normalisation. No final norm: the output of layer k is
// what InternVLChatModel reads (`select_layer`).
#pragma once

#include <vector>

#include <torch/torch.h>

#include "models/internvl_config.h"
#include "models/linear.h"
#include "models/qwen2_decoder.h"

namespace tokenfocus::models {

// `patch_embedding.weight` [C,3,p,p] / `.bias` [C] with Conv2d's names.
class PatchEmbeddingImpl : public torch::nn::Module {
 public:
  PatchEmbeddingImpl(int64_t channels, int64_t hidden, int64_t patch);
  // [T,3,H,W] (H, W multiples of the patch) -> [T, (H/p)·(W/p), C], patches row-major.
  torch::Tensor forward(const torch::Tensor& pixels);
  torch::Tensor weight, bias;

 private:
  int64_t patch_;
};
TORCH_MODULE(PatchEmbedding);

class InternVisionEmbeddingsImpl : public torch::nn::Module {
 public:
  explicit InternVisionEmbeddingsImpl(const InternVisionConfig& config);
  torch::Tensor forward(const torch::Tensor& pixels);  // [T, 1 + patches, C]
  torch::Tensor class_embedding;                       // [1,1,C]
  PatchEmbedding patch_embedding{nullptr};
  torch::Tensor position_embedding;  // [1, 1 + grid², C]

 private:
  InternVisionConfig config_;
};
TORCH_MODULE(InternVisionEmbeddings);

// Either nn.LayerNorm(eps) or InternRMSNorm, by `norm_type`; parameter names as in PyTorch.
class VisionNormImpl : public torch::nn::Module {
 public:
  VisionNormImpl(const std::string& norm_type, int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;  // bias undefined for rms_norm

 private:
  bool rms_;
  double eps_;
};
TORCH_MODULE(VisionNorm);

class InternAttentionImpl : public torch::nn::Module {
 public:
  explicit InternAttentionImpl(const InternVisionConfig& config);
  torch::Tensor forward(const torch::Tensor& x);  // bidirectional, no mask
  Linear qkv{nullptr}, proj{nullptr};
  RmsNorm q_norm{nullptr}, k_norm{nullptr};  // only with qk_normalization

 private:
  int64_t heads_, head_dim_;
};
TORCH_MODULE(InternAttention);

class InternMlpImpl : public torch::nn::Module {
 public:
  explicit InternMlpImpl(const InternVisionConfig& config);
  torch::Tensor forward(const torch::Tensor& x);  // fc2(gelu(fc1(x))), exact erf GELU
  Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(InternMlp);

class InternVisionLayerImpl : public torch::nn::Module {
 public:
  explicit InternVisionLayerImpl(const InternVisionConfig& config);
  torch::Tensor forward(const torch::Tensor& x);
  InternAttention attn{nullptr};
  InternMlp mlp{nullptr};
  VisionNorm norm1{nullptr}, norm2{nullptr};
  torch::Tensor ls1, ls2;
};
TORCH_MODULE(InternVisionLayer);

// `vision_model`: modules "embeddings" and "encoder.layers.{k}".
class InternVisionModelImpl : public torch::nn::Module {
 public:
  explicit InternVisionModelImpl(const InternVisionConfig& config);
  // Hidden states [T, 1 + patches, C] after `layers_used` layers (0 = embeddings). With
  // `all_hidden`, every state from the embeddings on is appended (output_hidden_states layout).
  torch::Tensor forward(const torch::Tensor& pixels, int64_t layers_used,
                        std::vector<torch::Tensor>* all_hidden = nullptr);
  void set_gradient_checkpointing(bool enabled) { checkpointing_ = enabled; }
  int64_t num_layers() const { return config_.num_hidden_layers; }

  InternVisionEmbeddings embeddings{nullptr};
  torch::nn::ModuleList layers{nullptr};  // registered under "encoder"

 private:
  InternVisionConfig config_;
  bool checkpointing_ = false;
};
TORCH_MODULE(InternVisionModel);

}  // namespace tokenfocus::models
