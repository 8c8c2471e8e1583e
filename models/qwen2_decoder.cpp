#include "models/qwen2_decoder.h"

#include <cmath>
#include <limits>
#include <string>

#include "models/backbone.h"

namespace tokenfocus::models {

using torch::indexing::Slice;

RmsNormImpl::RmsNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RmsNormImpl::forward(const torch::Tensor& x) {
  const torch::Tensor h = x.to(torch::kFloat);
  const torch::Tensor normed = h * torch::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  return weight * normed.to(x.scalar_type());
}

torch::Tensor rotate_half(const torch::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& additive_mask, bool causal) {
  // Fused kernels (flash / memory-efficient on CUDA, flash on CPU); the mask stays additive and
  // finite so that fully padded rows give finite values. No mask is "none", not an undefined
  // tensor, for libtorch 2.x's input checks. enable_gqa lets k/v keep their fewer heads (query
  // head i reads head i / (heads / kv_heads)) instead of copies repeated to every query head.
  const bool gqa = k.size(-3) != q.size(-3);
  return at::scaled_dot_product_attention(
      q, k, v, additive_mask.defined() ? std::optional<torch::Tensor>(additive_mask) : std::nullopt,
      /*dropout_p=*/0.0, /*is_causal=*/causal && !additive_mask.defined(), /*scale=*/std::nullopt,
      /*enable_gqa=*/gqa);
}

std::pair<torch::Tensor, torch::Tensor> mrope_cos_sin(const torch::Tensor& position_ids,
                                                      int64_t head_dim, double theta,
                                                      const std::vector<int64_t>& mrope_section,
                                                      torch::ScalarType dtype) {
  const auto float_options =
      torch::TensorOptions().dtype(torch::kFloat).device(position_ids.device());
  // Hugging Face: inv_freq = 1 / theta^(2i/d) in float32; freqs = position · inv_freq.
  const torch::Tensor inv_freq =
      1.0 / torch::pow(theta, torch::arange(0, head_dim, 2, float_options) /
                                  static_cast<double>(head_dim));
  const torch::Tensor freqs =
      position_ids.to(torch::kFloat).unsqueeze(-1) * inv_freq;  // [3,B,S,d/2]
  const torch::Tensor emb = torch::cat({freqs, freqs}, -1);
  const torch::Tensor cos = emb.cos(), sin = emb.sin();
  // Bands of the (doubled) section list take rows temporal, height, width, temporal, ...
  std::vector<torch::Tensor> cos_parts, sin_parts;
  int64_t offset = 0;
  for (int64_t repeat = 0; repeat < 2; ++repeat)
    for (size_t i = 0; i < mrope_section.size(); ++i) {
      const int64_t width = mrope_section[i];
      cos_parts.push_back(cos[static_cast<int64_t>(i)].narrow(-1, offset, width));
      sin_parts.push_back(sin[static_cast<int64_t>(i)].narrow(-1, offset, width));
      offset += width;
    }
  return {torch::cat(cos_parts, -1).to(dtype), torch::cat(sin_parts, -1).to(dtype)};
}

namespace {

double lowest_of(torch::ScalarType dtype) {
  return dtype == torch::kDouble  ? std::numeric_limits<double>::lowest()
         : dtype == torch::kFloat ? std::numeric_limits<float>::lowest()
                                  : -3.3895313892515355e38;  // bf16 lowest
}

}  // namespace

torch::Tensor causal_padding_mask(const torch::Tensor& attention_mask, torch::ScalarType dtype) {
  // Without padding or branches the mask is plain causality, which SDPA applies itself
  // (is_causal) without reading a [B,1,S,S] tensor.
  if ((attention_mask == 1).all().item<bool>()) return {};
  const int64_t seq = attention_mask.size(1);
  const torch::Tensor causal =
      torch::ones({seq, seq},
                  torch::TensorOptions().dtype(torch::kBool).device(attention_mask.device()))
          .tril();
  const torch::Tensor key = attention_mask.unsqueeze(1);    // [B,1,S]: what each key is
  const torch::Tensor query = attention_mask.unsqueeze(2);  // [B,S,1]: what each query is
  // A key is seen when it is real and either shared (1) or in the query's own branch.
  const torch::Tensor visible = (key != 0) & ((key == 1) | (key == query));
  const torch::Tensor allowed = causal.unsqueeze(0) & visible;  // [B,S,S]
  torch::Tensor mask = torch::zeros(allowed.sizes(), attention_mask.options().dtype(dtype));
  return mask.masked_fill(allowed.logical_not(), lowest_of(dtype)).unsqueeze(1);
}

Qwen2AttentionImpl::Qwen2AttentionImpl(const HfModelConfig& config)
    : heads_(config.num_attention_heads),
      kv_heads_(config.num_key_value_heads),
      head_dim_(config.head_dim()) {
  q_proj = register_module("q_proj", Linear(config.hidden_size, heads_ * head_dim_, true));
  k_proj = register_module("k_proj", Linear(config.hidden_size, kv_heads_ * head_dim_, true));
  v_proj = register_module("v_proj", Linear(config.hidden_size, kv_heads_ * head_dim_, true));
  o_proj = register_module("o_proj", Linear(heads_ * head_dim_, config.hidden_size, false));
}

torch::Tensor rotary_gqa_attention(torch::Tensor q, torch::Tensor k, const torch::Tensor& v,
                                   const torch::Tensor& cos, const torch::Tensor& sin,
                                   const torch::Tensor& mask, const torch::Tensor& query_index) {
  const int64_t batch = k.size(0), seq = k.size(2), head_dim = k.size(3);
  const int64_t heads = q.size(1);
  const torch::Tensor cos4 = cos.unsqueeze(1), sin4 = sin.unsqueeze(1);  // [B,1,S,d]
  k = k * cos4 + rotate_half(k) * sin4;
  if (!query_index.defined()) {
    q = q * cos4 + rotate_half(q) * sin4;
    const torch::Tensor out = attention(q, k, v, mask, /*causal=*/true);
    return out.transpose(1, 2).reshape({batch, seq, heads * head_dim});
  }
  // Queries only at the requested (sequence, position) pairs; keys and values everywhere.
  const torch::Tensor rows = query_index.select(1, 0);
  const int64_t count = query_index.size(0);
  const torch::Tensor cq = rows_at(cos, query_index).view({count, 1, 1, head_dim});
  const torch::Tensor sq = rows_at(sin, query_index).view({count, 1, 1, head_dim});
  q = q * cq + rotate_half(q) * sq;
  torch::Tensor mq;
  if (mask.defined()) {
    mq = rows_at(mask.select(1, 0), query_index).view({count, 1, 1, seq});
  } else {  // no padding: each query sees the keys up to its own position
    const torch::Tensor keys_at = torch::arange(seq, query_index.options()).unsqueeze(0);
    const torch::Tensor after = keys_at > query_index.select(1, 1).unsqueeze(1);  // [Q,S]
    mq = torch::zeros({count, seq}, q.options())
             .masked_fill(after, lowest_of(q.scalar_type()))
             .view({count, 1, 1, seq});
  }
  const torch::Tensor out = attention(q, k.index_select(0, rows), v.index_select(0, rows), mq);
  return out.reshape({count, heads * head_dim});
}

torch::Tensor rows_at(const torch::Tensor& x, const torch::Tensor& query_index) {
  if (!query_index.defined()) return x;
  return x.index({query_index.select(1, 0), query_index.select(1, 1)});
}

torch::Tensor Qwen2AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                          const torch::Tensor& sin, const torch::Tensor& mask,
                                          const torch::Tensor& query_index) {
  const int64_t batch = x.size(0), seq = x.size(1);
  auto heads_first = [&](const torch::Tensor& t, int64_t n) {
    return t.view({batch, seq, n, head_dim_}).transpose(1, 2);
  };
  const torch::Tensor k = heads_first(k_proj(x), kv_heads_);
  const torch::Tensor v = heads_first(v_proj(x), kv_heads_);
  const torch::Tensor q =
      query_index.defined()  // project only the queried positions
          ? q_proj(rows_at(x, query_index)).view({query_index.size(0), heads_, 1, head_dim_})
          : heads_first(q_proj(x), heads_);
  return o_proj(rotary_gqa_attention(q, k, v, cos, sin, mask, query_index));
}

SwiGluMlpImpl::SwiGluMlpImpl(int64_t hidden, int64_t intermediate, bool with_bias) {
  gate_proj = register_module("gate_proj", Linear(hidden, intermediate, with_bias));
  up_proj = register_module("up_proj", Linear(hidden, intermediate, with_bias));
  down_proj = register_module("down_proj", Linear(intermediate, hidden, with_bias));
}

torch::Tensor SwiGluMlpImpl::forward(const torch::Tensor& x) {
  return down_proj(torch::silu(gate_proj(x)) * up_proj(x));
}

Qwen2DecoderLayerImpl::Qwen2DecoderLayerImpl(const HfModelConfig& config) {
  self_attn = register_module("self_attn", Qwen2Attention(config));
  mlp = register_module("mlp", SwiGluMlp(config.hidden_size, config.intermediate_size, false));
  input_layernorm =
      register_module("input_layernorm", RmsNorm(config.hidden_size, config.rms_norm_eps));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RmsNorm(config.hidden_size, config.rms_norm_eps));
}

torch::Tensor Qwen2DecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                             const torch::Tensor& sin, const torch::Tensor& mask,
                                             const torch::Tensor& query_index) {
  const torch::Tensor h =
      rows_at(x, query_index) + self_attn(input_layernorm(x), cos, sin, mask, query_index);
  return h + mlp(post_attention_layernorm(h));
}

Qwen2DecoderImpl::Qwen2DecoderImpl(const HfModelConfig& config) : config_(config) {
  auto options = torch::nn::EmbeddingOptions(config.vocab_size, config.hidden_size);
  if (config.pad_token_id >= 0) options.padding_idx(config.pad_token_id);
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(options));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.num_hidden_layers; ++i)
    layers->push_back(Qwen2DecoderLayer(config));
  norm = register_module("norm", RmsNorm(config.hidden_size, config.rms_norm_eps));
}

torch::Tensor Qwen2DecoderImpl::run_layer(size_t index, const torch::Tensor& x,
                                          const torch::Tensor& cos, const torch::Tensor& sin,
                                          const torch::Tensor& mask,
                                          const torch::Tensor& query_index) {
  auto layer = layers->ptr<Qwen2DecoderLayerImpl>(index);
  return run_block(
      checkpointing_,
      [layer, cos, sin, mask, query_index](const torch::Tensor& in) {
        return layer->forward(in, cos, sin, mask, query_index);
      },
      x, *layer);
}

torch::Tensor Qwen2DecoderImpl::forward(const torch::Tensor& embeds,
                                        const torch::Tensor& position_ids,
                                        const torch::Tensor& attention_mask,
                                        std::vector<torch::Tensor>* all_hidden) {
  const auto [cos, sin] = mrope_cos_sin(position_ids, config_.head_dim(), config_.rope_theta,
                                        config_.mrope_section, embeds.scalar_type());
  const torch::Tensor mask = causal_padding_mask(attention_mask, embeds.scalar_type());
  torch::Tensor x = embeds;
  for (size_t i = 0; i < layers->size(); ++i) {
    if (all_hidden) all_hidden->push_back(x);
    x = run_layer(i, x, cos, sin, mask);
  }
  x = norm(x);
  if (all_hidden) all_hidden->push_back(x);
  return x;
}

torch::Tensor Qwen2DecoderImpl::forward_at(const torch::Tensor& embeds,
                                           const torch::Tensor& position_ids,
                                           const torch::Tensor& attention_mask,
                                           const torch::Tensor& query_index) {
  // Causal attention: positions after the last query cannot change any queried hidden state.
  const int64_t used = query_index.select(1, 1).max().item<int64_t>() + 1;
  const torch::Tensor e = embeds.narrow(1, 0, used);
  const torch::Tensor p = position_ids.narrow(2, 0, used);
  const torch::Tensor m = attention_mask.narrow(1, 0, used);
  const auto [cos, sin] = mrope_cos_sin(p, config_.head_dim(), config_.rope_theta,
                                        config_.mrope_section, e.scalar_type());
  const torch::Tensor mask = causal_padding_mask(m, e.scalar_type());
  torch::Tensor x = e;
  const size_t last = layers->size() - 1;
  for (size_t i = 0; i < last; ++i) x = run_layer(i, x, cos, sin, mask);
  return norm(run_layer(last, x, cos, sin, mask, query_index));
}

}  // namespace tokenfocus::models
