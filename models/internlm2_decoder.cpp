#include "models/internlm2_decoder.h"

#include <cmath>

#include "models/backbone.h"

namespace tokenfocus::models {

std::pair<torch::Tensor, torch::Tensor> internlm2_rope_cos_sin(const torch::Tensor& position_ids,
                                                               int64_t seq_len,
                                                               const InternVLConfig& config,
                                                               torch::ScalarType dtype) {
  const int64_t dim = config.llm.head_dim();
  double base = config.llm.rope_theta;
  const double factor = config.rope_scaling_factor;
  const auto max_positions = static_cast<double>(config.max_position_embeddings);
  // Dynamic NTK: a larger base once the sequence outgrows the trained context. (InternLM2's cache
  // keeps the grown base for later, shorter calls; here each call depends on its own length.)
  if (config.rope_scaling_type == "dynamic" && seq_len > config.max_position_embeddings)
    base *= std::pow(factor * static_cast<double>(seq_len) / max_positions - (factor - 1.0),
                     static_cast<double>(dim) / static_cast<double>(dim - 2));
  const auto options = torch::TensorOptions().dtype(torch::kFloat).device(position_ids.device());
  const torch::Tensor inv_freq =
      1.0 / torch::pow(base, torch::arange(0, dim, 2, options) / static_cast<double>(dim));
  torch::Tensor t = position_ids.to(torch::kFloat);
  if (config.rope_scaling_type == "linear") t = t / factor;
  const torch::Tensor freqs = t.unsqueeze(-1) * inv_freq;
  const torch::Tensor emb = torch::cat({freqs, freqs}, -1);
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

InternLM2AttentionImpl::InternLM2AttentionImpl(const InternVLConfig& config)
    : heads_(config.llm.num_attention_heads),
      kv_heads_(config.llm.num_key_value_heads),
      head_dim_(config.llm.head_dim()) {
  const int64_t hidden = config.llm.hidden_size;
  wqkv = register_module("wqkv",
                         Linear(hidden, (heads_ + 2 * kv_heads_) * head_dim_, config.llm_bias));
  wo = register_module("wo", Linear(heads_ * head_dim_, hidden, config.llm_bias));
}

torch::Tensor InternLM2AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                              const torch::Tensor& sin, const torch::Tensor& mask,
                                              const torch::Tensor& query_index) {
  const int64_t batch = x.size(0), seq = x.size(1), groups = heads_ / kv_heads_;
  // wqkv rows are (kv head, slot, d) with slots = this kv head's `groups` query heads, then its
  // key, then its value: query head kv·groups + g reads key/value head kv.
  const torch::Tensor packed = wqkv(x).view({batch, seq, kv_heads_, groups + 2, head_dim_});
  const torch::Tensor k = packed.select(3, groups).transpose(1, 2);  // [B,kv,S,d]
  const torch::Tensor v = packed.select(3, groups + 1).transpose(1, 2);
  const torch::Tensor queries =
      packed.narrow(3, 0, groups).reshape({batch, seq, heads_, head_dim_});
  const torch::Tensor q =
      query_index.defined()
          ? rows_at(queries, query_index).view({query_index.size(0), heads_, 1, head_dim_})
          : queries.transpose(1, 2);
  return wo(rotary_gqa_attention(q, k, v, cos, sin, mask, query_index));
}

InternLM2MlpImpl::InternLM2MlpImpl(int64_t hidden, int64_t intermediate, bool with_bias) {
  w1 = register_module("w1", Linear(hidden, intermediate, with_bias));
  w3 = register_module("w3", Linear(hidden, intermediate, with_bias));
  w2 = register_module("w2", Linear(intermediate, hidden, with_bias));
}

torch::Tensor InternLM2MlpImpl::forward(const torch::Tensor& x) {
  return w2(torch::silu(w1(x)) * w3(x));
}

InternLM2LayerImpl::InternLM2LayerImpl(const InternVLConfig& config) {
  attention = register_module("attention", InternLM2Attention(config));
  feed_forward = register_module(
      "feed_forward",
      InternLM2Mlp(config.llm.hidden_size, config.llm.intermediate_size, config.llm_bias));
  attention_norm =
      register_module("attention_norm", RmsNorm(config.llm.hidden_size, config.llm.rms_norm_eps));
  ffn_norm = register_module("ffn_norm", RmsNorm(config.llm.hidden_size, config.llm.rms_norm_eps));
}

torch::Tensor InternLM2LayerImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                          const torch::Tensor& sin, const torch::Tensor& mask,
                                          const torch::Tensor& query_index) {
  const torch::Tensor h =
      rows_at(x, query_index) + attention(attention_norm(x), cos, sin, mask, query_index);
  return h + feed_forward(ffn_norm(h));
}

InternLM2ModelImpl::InternLM2ModelImpl(const InternVLConfig& config) : config_(config) {
  auto options = torch::nn::EmbeddingOptions(config.llm.vocab_size, config.llm.hidden_size);
  // nn.Embedding(padding_idx): that row never receives a gradient.
  if (config.llm.pad_token_id >= 0) options.padding_idx(config.llm.pad_token_id);
  tok_embeddings = register_module("tok_embeddings", torch::nn::Embedding(options));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.llm.num_hidden_layers; ++i)
    layers->push_back(InternLM2Layer(config));
  norm = register_module("norm", RmsNorm(config.llm.hidden_size, config.llm.rms_norm_eps));
}

torch::Tensor InternLM2ModelImpl::run_layer(size_t index, const torch::Tensor& x,
                                            const torch::Tensor& cos, const torch::Tensor& sin,
                                            const torch::Tensor& mask,
                                            const torch::Tensor& query_index) {
  auto layer = layers->ptr<InternLM2LayerImpl>(index);
  return run_block(
      checkpointing_,
      [layer, cos, sin, mask, query_index](const torch::Tensor& in) {
        return layer->forward(in, cos, sin, mask, query_index);
      },
      x, *layer);
}

torch::Tensor InternLM2ModelImpl::forward(const torch::Tensor& embeds,
                                          const torch::Tensor& position_ids,
                                          const torch::Tensor& attention_mask,
                                          std::vector<torch::Tensor>* all_hidden) {
  const auto [cos, sin] =
      internlm2_rope_cos_sin(position_ids, embeds.size(1), config_, embeds.scalar_type());
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

torch::Tensor InternLM2ModelImpl::forward_at(const torch::Tensor& embeds,
                                             const torch::Tensor& position_ids,
                                             const torch::Tensor& attention_mask,
                                             const torch::Tensor& query_index) {
  // The rotary base follows the whole batch's length (as forward does); causal attention lets
  // everything after the last queried position be dropped.
  const int64_t full = embeds.size(1);
  const int64_t used = query_index.select(1, 1).max().item<int64_t>() + 1;
  const torch::Tensor e = embeds.narrow(1, 0, used);
  const auto [cos, sin] =
      internlm2_rope_cos_sin(position_ids.narrow(1, 0, used), full, config_, e.scalar_type());
  const torch::Tensor mask =
      causal_padding_mask(attention_mask.narrow(1, 0, used), e.scalar_type());
  torch::Tensor x = e;
  const size_t last = layers->size() - 1;
  for (size_t i = 0; i < last; ++i) x = run_layer(i, x, cos, sin, mask);
  return norm(run_layer(last, x, cos, sin, mask, query_index));
}

}  // namespace tokenfocus::models
