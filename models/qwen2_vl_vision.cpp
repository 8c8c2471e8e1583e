#include "models/qwen2_vl_vision.h"

#include <cmath>
#include <string>
#include <utility>

#include "common/error.h"
#include "models/backbone.h"

namespace tokenfocus::models {

PatchEmbedImpl::PatchEmbedImpl(int64_t in_channels, int64_t temporal, int64_t patch, int64_t dim) {
  auto proj = register_module("proj", std::make_shared<torch::nn::Module>());
  weight =
      proj->register_parameter("weight", torch::empty({dim, in_channels, temporal, patch, patch}));
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
}

torch::Tensor PatchEmbedImpl::forward(const torch::Tensor& patches) {
  const torch::Tensor flat = weight.view({weight.size(0), -1});
  if (patches.size(1) != flat.size(1))
    throw_user_error("pixel_values have {} values per patch, the patch embedding expects {}",
                     patches.size(1), flat.size(1));
  return torch::matmul(patches.to(weight.scalar_type()), flat.t());
}

torch::Tensor vision_rotary_freqs(const torch::Tensor& grid_thw, int64_t head_dim, int64_t merge,
                                  const torch::TensorOptions& options) {
  const torch::Tensor grid = grid_thw.to(torch::kCPU, torch::kLong).contiguous();
  const auto thw = grid.accessor<int64_t, 2>();
  std::vector<int64_t> rows, cols;
  for (int64_t i = 0; i < grid.size(0); ++i) {
    const int64_t t = thw[i][0], h = thw[i][1], w = thw[i][2];
    if (h % merge != 0 || w % merge != 0)
      throw_user_error("image {}: grid {}x{} patches is not a multiple of the merge size {}", i, h,
                       w, merge);
    // Processor order: (t, h/m, w/m, m, m).
    for (int64_t f = 0; f < t; ++f)
      for (int64_t bh = 0; bh < h / merge; ++bh)
        for (int64_t bw = 0; bw < w / merge; ++bw)
          for (int64_t ih = 0; ih < merge; ++ih)
            for (int64_t iw = 0; iw < merge; ++iw) {
              rows.push_back(bh * merge + ih);
              cols.push_back(bw * merge + iw);
            }
  }
  // VisionRotaryEmbedding(head_dim/2): inv_freq = 1 / 10000^(2i/(head_dim/2)), float32.
  const int64_t dim = head_dim / 2;
  const auto float_options = torch::TensorOptions().dtype(torch::kFloat);
  const torch::Tensor inv_freq =
      1.0 / torch::pow(10000.0, torch::arange(0, dim, 2, float_options) / static_cast<double>(dim));
  const torch::Tensor r = torch::tensor(rows, torch::kLong).to(torch::kFloat).unsqueeze(1);
  const torch::Tensor c = torch::tensor(cols, torch::kLong).to(torch::kFloat).unsqueeze(1);
  return torch::cat({r * inv_freq, c * inv_freq}, 1).to(options);
}

std::vector<int64_t> image_segments(const torch::Tensor& grid_thw) {
  const torch::Tensor grid = grid_thw.to(torch::kCPU, torch::kLong).contiguous();
  const auto thw = grid.accessor<int64_t, 2>();
  std::vector<int64_t> bounds{0};
  for (int64_t i = 0; i < grid.size(0); ++i)
    for (int64_t f = 0; f < thw[i][0]; ++f) bounds.push_back(bounds.back() + thw[i][1] * thw[i][2]);
  return bounds;
}

VisionAttentionImpl::VisionAttentionImpl(int64_t dim, int64_t heads) : heads_(heads) {
  qkv = register_module("qkv", Linear(dim, 3 * dim, true));
  proj = register_module("proj", Linear(dim, dim, true));
}

torch::Tensor VisionAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                           const torch::Tensor& sin,
                                           const std::vector<int64_t>& bounds) {
  const int64_t count = x.size(0), dim = x.size(1), head_dim = dim / heads_;
  const auto parts = qkv(x).view({count, 3, heads_, head_dim}).unbind(1);  // [P,h,d] each
  const torch::Tensor c = cos.unsqueeze(1), s = sin.unsqueeze(1);
  const torch::Tensor q = parts[0] * c + rotate_half(parts[0]) * s;
  const torch::Tensor k = parts[1] * c + rotate_half(parts[1]) * s;
  const torch::Tensor& v = parts[2];
  // Segments of equal length (the usual case: one image size, or equal windows) run as one batch.
  const int64_t segments = static_cast<int64_t>(bounds.size()) - 1;
  bool equal = segments > 0;
  for (int64_t i = 1; i < segments && equal; ++i)
    equal = bounds[i + 1] - bounds[i] == bounds[1] - bounds[0];
  torch::Tensor out;
  if (equal) {
    const int64_t length = bounds[1] - bounds[0];
    auto batched = [&](const torch::Tensor& t) {
      return t.view({segments, length, heads_, head_dim}).transpose(1, 2);
    };
    out = attention(batched(q), batched(k), batched(v), {}).transpose(1, 2).reshape({count, dim});
  } else {
    std::vector<torch::Tensor> pieces;
    for (int64_t i = 0; i < segments; ++i) {
      const int64_t begin = bounds[i], length = bounds[i + 1] - bounds[i];
      auto one = [&](const torch::Tensor& t) {
        return t.narrow(0, begin, length).transpose(0, 1).unsqueeze(0);
      };
      pieces.push_back(
          attention(one(q), one(k), one(v), {}).squeeze(0).transpose(0, 1).reshape({length, dim}));
    }
    out = torch::cat(pieces, 0);
  }
  return proj(out);
}

VisionMlpImpl::VisionMlpImpl(int64_t dim, int64_t hidden, std::string activation)
    : activation_(std::move(activation)) {
  fc1 = register_module("fc1", Linear(dim, hidden, true));
  fc2 = register_module("fc2", Linear(hidden, dim, true));
}

torch::Tensor VisionMlpImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = fc1(x);
  if (activation_ == "quick_gelu")
    h = h * torch::sigmoid(1.702 * h);
  else if (activation_ == "silu")
    h = torch::silu(h);
  else
    h = torch::gelu(h);
  return fc2(h);
}

Qwen2VisionBlockImpl::Qwen2VisionBlockImpl(const HfVisionConfig& config) {
  const int64_t dim = config.hidden_size;
  norm1 =
      register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-6)));
  norm2 =
      register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-6)));
  attn = register_module("attn", VisionAttention(dim, config.num_heads));
  mlp = register_module(
      "mlp", VisionMlp(dim, static_cast<int64_t>(dim * config.mlp_ratio), config.hidden_act));
}

torch::Tensor Qwen2VisionBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                            const torch::Tensor& sin,
                                            const std::vector<int64_t>& bounds) {
  const torch::Tensor h = x + attn(norm1(x), cos, sin, bounds);
  return h + mlp(norm2(h));
}

PatchMergerImpl::PatchMergerImpl(int64_t context_dim, int64_t out_dim, int64_t merge, bool rms_norm)
    : grouped_dim_(context_dim * merge * merge) {
  if (rms_norm)
    rms_norm_ = register_module("ln_q", RmsNorm(context_dim, 1e-6));
  else
    layer_norm_ = register_module(
        "ln_q", torch::nn::LayerNorm(torch::nn::LayerNormOptions({context_dim}).eps(1e-6)));
  auto mlp = register_module("mlp", std::make_shared<torch::nn::Module>());
  fc0_ = mlp->register_module("0", Linear(grouped_dim_, grouped_dim_, true));
  fc2_ = mlp->register_module("2", Linear(grouped_dim_, out_dim, true));
}

torch::Tensor PatchMergerImpl::forward(const torch::Tensor& x) {
  const torch::Tensor normed = rms_norm_ ? rms_norm_(x) : layer_norm_(x);
  return fc2_(torch::gelu(fc0_(normed.reshape({-1, grouped_dim_}))));
}

Qwen2VisionTower::Qwen2VisionTower(const HfVisionConfig& config) : config_(config) {
  patch_embed =
      register_module("patch_embed", PatchEmbed(config.in_channels, config.temporal_patch_size,
                                                config.patch_size, config.hidden_size));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.depth; ++i) blocks->push_back(Qwen2VisionBlock(config));
  merger = register_module("merger", PatchMerger(config.hidden_size, config.out_hidden_size,
                                                 config.spatial_merge_size, false));
}

torch::Tensor Qwen2VisionTower::forward(const torch::Tensor& pixel_values,
                                        const torch::Tensor& grid_thw, VisionTrace* trace) {
  torch::Tensor x = patch_embed(pixel_values);
  const torch::Tensor freqs =
      vision_rotary_freqs(grid_thw, config_.head_dim(), config_.spatial_merge_size, x.options());
  if (freqs.size(0) != x.size(0))
    throw_user_error("pixel_values have {} patches but image_grid_thw describes {}", x.size(0),
                     freqs.size(0));
  const torch::Tensor emb = torch::cat({freqs, freqs}, -1);
  const torch::Tensor cos = emb.cos(), sin = emb.sin();
  const std::vector<int64_t> bounds = image_segments(grid_thw);
  if (trace) trace->patch_embed = x;
  for (size_t i = 0; i < blocks->size(); ++i) {
    auto block = blocks->ptr<Qwen2VisionBlockImpl>(i);
    x = run_block(
        checkpointing_,
        [block, cos, sin, bounds](const torch::Tensor& in) {
          return block->forward(in, cos, sin, bounds);
        },
        x, *block);
    if (trace) trace->blocks.push_back(x);
  }
  x = merger(x);
  if (trace) trace->merger_raw = x;
  return x;
}

void Qwen2VisionTower::freeze(bool frozen) {
  for (auto& parameter : patch_embed->parameters()) parameter.set_requires_grad(!frozen);
  for (auto& parameter : blocks->parameters()) parameter.set_requires_grad(!frozen);
}

}  // namespace tokenfocus::models
