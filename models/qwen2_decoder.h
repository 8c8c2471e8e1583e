// The Qwen2 text decoder as Qwen2-VL / Qwen2.5-VL use it (Hugging Face `model.*`): token embedding,
// layers of GQA self-attention with multimodal rotary embedding (M-RoPE) and a SwiGLU MLP, both
// behind RMSNorm, and a final RMSNorm. Also the RMSNorm and the explicit attention kernel the
// vision towers share.
#pragma once

#include <utility>
#include <vector>

#include <torch/torch.h>

#include "models/hf_config.h"
#include "models/linear.h"

namespace tokenfocus::models {

// Qwen2RMSNorm: weight · x / sqrt(mean(x²) + eps), computed in float32.
class RmsNormImpl : public torch::nn::Module {
 public:
  RmsNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(RmsNorm);

// [..., d] -> [-x2, x1] with x1, x2 the halves of the last dimension.
torch::Tensor rotate_half(const torch::Tensor& x);

// softmax(q·kᵀ/√d + mask) · v with q [N,h,Sq,d], k/v [N,hk,Sk,d] (hk divides h: grouped-query
// attention, query head i reads head i / (h / hk)); `additive_mask` broadcastable to [N,h,Sq,Sk]
// (0 = attend, the dtype's lowest value = masked), or undefined: then no mask, or causal when
// `causal` is set. scaled_dot_product_attention.
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& additive_mask, bool causal = false);

// cos/sin [B,S,head_dim] for M-RoPE position ids [3,B,S]: each frequency band takes the temporal,
// height or width id as `mrope_section` assigns (Hugging Face's apply_multimodal_rotary_pos_emb).
std::pair<torch::Tensor, torch::Tensor> mrope_cos_sin(const torch::Tensor& position_ids,
                                                      int64_t head_dim, double theta,
                                                      const std::vector<int64_t>& mrope_section,
                                                      torch::ScalarType dtype);

// [B,1,S,S] additive mask from attention_mask [B,S] whose values say what each token is: 0 =
// padding, 1 = an ordinary (shared) token, k >= 2 = a token of branch k of a packed row
// (data/batch.h). A query sees the earlier real keys that are shared or of its own branch: causal,
// padding masked, and the branches of one row isolated from each other. Rows of padded queries are
// fully masked (uniform softmax, finite), as in Hugging Face's eager path. Undefined when every
// token is 1: the decoders' attention is then plain causal.
torch::Tensor causal_padding_mask(const torch::Tensor& attention_mask, torch::ScalarType dtype);

// The attention of a rotary GQA decoder layer, shared by Qwen2 and InternLM2 (they differ only in
// how q, k and v are projected and named). k, v: [B,kv_heads,S,d], k before its rotary embedding.
// Without `query_index`: q [B,heads,S,d] -> [B,S,heads·d]. With `query_index` ([Q,2] rows of
// (sequence, position)): q [Q,heads,1,d] for those positions only -> [Q,heads·d]. Applies the
// rotary embedding (cos/sin [B,S,d]) to q and k, lets query head i read key/value head
// i / (heads / kv_heads) (Hugging Face's repeat_kv), masks with `mask` [B,1,S,S] (undefined:
// causal). The result is ready for the output projection.
torch::Tensor rotary_gqa_attention(torch::Tensor q, torch::Tensor k, const torch::Tensor& v,
                                   const torch::Tensor& cos, const torch::Tensor& sin,
                                   const torch::Tensor& mask, const torch::Tensor& query_index);

// x [B,S,...] at the (sequence, position) rows of `query_index` ([Q,...]), or x itself when
// `query_index` is undefined: the residual of a layer that computes only at the queried positions.
torch::Tensor rows_at(const torch::Tensor& x, const torch::Tensor& query_index);

class Qwen2AttentionImpl : public torch::nn::Module {
 public:
  explicit Qwen2AttentionImpl(const HfModelConfig& config);
  // x [B,S,H]; cos/sin [B,S,d]; mask [B,1,S,S]. `query_index` (optional, [Q,2] rows of
  // (sequence, position)) computes queries and outputs only there: [Q,H].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask, const torch::Tensor& query_index = {});
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  int64_t heads_, kv_heads_, head_dim_;
};
TORCH_MODULE(Qwen2Attention);

// down_proj(silu(gate_proj(x)) · up_proj(x)); `with_bias` for the Qwen2.5-VL vision MLP.
class SwiGluMlpImpl : public torch::nn::Module {
 public:
  SwiGluMlpImpl(int64_t hidden, int64_t intermediate, bool with_bias);
  torch::Tensor forward(const torch::Tensor& x);
  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(SwiGluMlp);

class Qwen2DecoderLayerImpl : public torch::nn::Module {
 public:
  explicit Qwen2DecoderLayerImpl(const HfModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask, const torch::Tensor& query_index = {});
  Qwen2Attention self_attn{nullptr};
  SwiGluMlp mlp{nullptr};
  RmsNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE(Qwen2DecoderLayer);

// Hugging Face's Qwen2VLModel / Qwen2_5_VLModel (the `model.` prefix).
class Qwen2DecoderImpl : public torch::nn::Module {
 public:
  explicit Qwen2DecoderImpl(const HfModelConfig& config);

  // embeds [B,S,H] (image embeddings already scattered), position_ids [3,B,S], attention_mask
  // [B,S]. Returns the final-norm hidden states [B,S,H]; with `all_hidden` every layer's input as
  // well (Hugging Face's output_hidden_states layout).
  torch::Tensor forward(const torch::Tensor& embeds, const torch::Tensor& position_ids,
                        const torch::Tensor& attention_mask,
                        std::vector<torch::Tensor>* all_hidden = nullptr);
  // Final-norm hidden states only at `query_index` ([Q,2] (sequence, position)): [Q,H]. The last
  // layer computes attention queries, MLP and norm only there.
  torch::Tensor forward_at(const torch::Tensor& embeds, const torch::Tensor& position_ids,
                           const torch::Tensor& attention_mask, const torch::Tensor& query_index);

  void set_gradient_checkpointing(bool enabled) { checkpointing_ = enabled; }

  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RmsNorm norm{nullptr};

 private:
  torch::Tensor run_layer(size_t index, const torch::Tensor& x, const torch::Tensor& cos,
                          const torch::Tensor& sin, const torch::Tensor& mask,
                          const torch::Tensor& query_index = {});
  HfModelConfig config_;
  bool checkpointing_ = false;
};
TORCH_MODULE(Qwen2Decoder);

}  // namespace tokenfocus::models
