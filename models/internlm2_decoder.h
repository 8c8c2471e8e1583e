// InternLM2 as InternVL2.5-8B / -26B use it (OpenGVLab's InternLM2ForCausalLM, `language_model.*`):
// token embedding `model.tok_embeddings` (with padding_idx), layers of GQA attention whose q/k/v
// projections are ONE matrix `attention.wqkv` packed per key/value head, `attention.wo`, a SwiGLU
// `feed_forward` (w2(silu(w1 x) · w3 x)), RMSNorms `attention_norm` / `ffn_norm` / `model.norm`,
// rotary embedding with optional dynamic-NTK or linear scaling, and the head `output`.
#pragma once

#include <vector>

#include <torch/torch.h>

#include "models/internvl_config.h"
#include "models/linear.h"
#include "models/qwen2_decoder.h"

namespace tokenfocus::models {

// cos/sin [B,S,d] for 1-D position ids [B,S] as InternLM2's rotary classes compute them for a
// sequence of `seq_len` tokens: "dynamic" raises the base when seq_len exceeds
// max_position_embeddings (NTK-aware), "linear" divides positions by the factor.
std::pair<torch::Tensor, torch::Tensor> internlm2_rope_cos_sin(const torch::Tensor& position_ids,
                                                               int64_t seq_len,
                                                               const InternVLConfig& config,
                                                               torch::ScalarType dtype);

class InternLM2AttentionImpl : public torch::nn::Module {
 public:
  explicit InternLM2AttentionImpl(const InternVLConfig& config);
  // As Qwen2Attention::forward (x [B,S,H], cos/sin [B,S,d], mask [B,1,S,S], optional queries).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask, const torch::Tensor& query_index = {});
  Linear wqkv{nullptr}, wo{nullptr};

 private:
  int64_t heads_, kv_heads_, head_dim_;
};
TORCH_MODULE(InternLM2Attention);

class InternLM2MlpImpl : public torch::nn::Module {
 public:
  InternLM2MlpImpl(int64_t hidden, int64_t intermediate, bool with_bias);
  torch::Tensor forward(const torch::Tensor& x);
  Linear w1{nullptr}, w3{nullptr}, w2{nullptr};
};
TORCH_MODULE(InternLM2Mlp);

class InternLM2LayerImpl : public torch::nn::Module {
 public:
  explicit InternLM2LayerImpl(const InternVLConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask, const torch::Tensor& query_index = {});
  InternLM2Attention attention{nullptr};
  InternLM2Mlp feed_forward{nullptr};
  RmsNorm attention_norm{nullptr}, ffn_norm{nullptr};
};
TORCH_MODULE(InternLM2Layer);

// InternLM2Model (the `model.` prefix inside InternLM2ForCausalLM).
class InternLM2ModelImpl : public torch::nn::Module {
 public:
  explicit InternLM2ModelImpl(const InternVLConfig& config);
  // embeds [B,S,H], position ids [B,S], attention_mask [B,S] -> final-norm hidden [B,S,H]; with
  // `all_hidden` each layer's input and the final output are appended (output_hidden_states).
  torch::Tensor forward(const torch::Tensor& embeds, const torch::Tensor& position_ids,
                        const torch::Tensor& attention_mask,
                        std::vector<torch::Tensor>* all_hidden = nullptr);
  // Final-norm hidden states only at `query_index` ([Q,2] (sequence, position)): [Q,H].
  torch::Tensor forward_at(const torch::Tensor& embeds, const torch::Tensor& position_ids,
                           const torch::Tensor& attention_mask, const torch::Tensor& query_index);
  void set_gradient_checkpointing(bool enabled) { checkpointing_ = enabled; }

  torch::nn::Embedding tok_embeddings{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RmsNorm norm{nullptr};

 private:
  torch::Tensor run_layer(size_t index, const torch::Tensor& x, const torch::Tensor& cos,
                          const torch::Tensor& sin, const torch::Tensor& mask,
                          const torch::Tensor& query_index = {});
  InternVLConfig config_;
  bool checkpointing_ = false;
};
TORCH_MODULE(InternLM2Model);

}  // namespace tokenfocus::models
