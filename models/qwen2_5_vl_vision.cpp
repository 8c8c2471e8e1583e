#include "models/qwen2_5_vl_vision.h"

#include <algorithm>

#include "common/error.h"
#include "models/backbone.h"

namespace tokenfocus::models {

WindowIndex qwen2_5_window_index(const torch::Tensor& grid_thw, const HfVisionConfig& config) {
  const torch::Tensor grid = grid_thw.to(torch::kCPU, torch::kLong).contiguous();
  const auto thw = grid.accessor<int64_t, 2>();
  const int64_t merge = config.spatial_merge_size, unit = merge * merge;
  const int64_t window = config.window_size / merge / config.patch_size;  // in merged units
  WindowIndex result;
  result.cu_window_seqlens.push_back(0);
  int64_t offset = 0;
  for (int64_t i = 0; i < grid.size(0); ++i) {
    const int64_t t = thw[i][0], h = thw[i][1] / merge, w = thw[i][2] / merge;
    // Hugging Face pads the merged grid up to whole windows (a full extra window when it already
    // divides); the padding never appears in the index and empty windows are dropped.
    const int64_t windows_h = (h + window - h % window) / window;
    const int64_t windows_w = (w + window - w % window) / window;
    for (int64_t f = 0; f < t; ++f)
      for (int64_t wh = 0; wh < windows_h; ++wh)
        for (int64_t ww = 0; ww < windows_w; ++ww) {
          int64_t count = 0;
          for (int64_t r = wh * window; r < std::min(h, (wh + 1) * window); ++r)
            for (int64_t c = ww * window; c < std::min(w, (ww + 1) * window); ++c) {
              result.window_index.push_back(offset + f * h * w + r * w + c);
              ++count;
            }
          if (count > 0)
            result.cu_window_seqlens.push_back(result.cu_window_seqlens.back() + count * unit);
        }
    offset += t * h * w;
  }
  return result;
}

Qwen2_5VisionBlockImpl::Qwen2_5VisionBlockImpl(const HfVisionConfig& config) {
  norm1 = register_module("norm1", RmsNorm(config.hidden_size, 1e-6));
  norm2 = register_module("norm2", RmsNorm(config.hidden_size, 1e-6));
  attn = register_module("attn", VisionAttention(config.hidden_size, config.num_heads));
  mlp = register_module("mlp", SwiGluMlp(config.hidden_size, config.intermediate_size, true));
}

torch::Tensor Qwen2_5VisionBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                              const torch::Tensor& sin,
                                              const std::vector<int64_t>& bounds) {
  const torch::Tensor h = x + attn(norm1(x), cos, sin, bounds);
  return h + mlp(norm2(h));
}

Qwen2_5VisionTower::Qwen2_5VisionTower(const HfVisionConfig& config) : config_(config) {
  if (config.hidden_act != "silu")
    throw_user_error("Qwen2.5-VL vision: hidden_act '{}' is not supported (silu)",
                     config.hidden_act);
  patch_embed =
      register_module("patch_embed", PatchEmbed(config.in_channels, config.temporal_patch_size,
                                                config.patch_size, config.hidden_size));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.depth; ++i) blocks->push_back(Qwen2_5VisionBlock(config));
  merger = register_module("merger", PatchMerger(config.hidden_size, config.out_hidden_size,
                                                 config.spatial_merge_size, true));
}

torch::Tensor Qwen2_5VisionTower::forward(const torch::Tensor& pixel_values,
                                          const torch::Tensor& grid_thw, VisionTrace* trace) {
  const int64_t unit = config_.spatial_merge_size * config_.spatial_merge_size;
  torch::Tensor x = patch_embed(pixel_values);
  torch::Tensor freqs =
      vision_rotary_freqs(grid_thw, config_.head_dim(), config_.spatial_merge_size, x.options());
  const int64_t patches = x.size(0);
  if (freqs.size(0) != patches)
    throw_user_error("pixel_values have {} patches but image_grid_thw describes {}", patches,
                     freqs.size(0));
  if (trace) trace->patch_embed = x;
  const WindowIndex windows = qwen2_5_window_index(grid_thw, config_);
  const torch::Tensor order = torch::tensor(windows.window_index, torch::kLong).to(x.device());
  // Permute whole merged units (merge² consecutive patches) into window order.
  x = x.view({patches / unit, unit, -1}).index_select(0, order).reshape({patches, -1});
  freqs = freqs.view({patches / unit, unit, -1}).index_select(0, order).reshape({patches, -1});
  const torch::Tensor emb = torch::cat({freqs, freqs}, -1);
  const torch::Tensor cos = emb.cos(), sin = emb.sin();
  const std::vector<int64_t> full = image_segments(grid_thw);
  if (trace) {
    trace->window_index = order;
    trace->cu_window_seqlens = torch::tensor(windows.cu_window_seqlens, torch::kLong);
  }
  for (size_t i = 0; i < blocks->size(); ++i) {
    const bool full_attention =
        std::find(config_.fullatt_block_indexes.begin(), config_.fullatt_block_indexes.end(),
                  static_cast<int64_t>(i)) != config_.fullatt_block_indexes.end();
    const std::vector<int64_t>& bounds = full_attention ? full : windows.cu_window_seqlens;
    auto block = blocks->ptr<Qwen2_5VisionBlockImpl>(i);
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
  return x.index_select(0, torch::argsort(order));
}

void Qwen2_5VisionTower::freeze(bool frozen) {
  for (auto& parameter : patch_embed->parameters()) parameter.set_requires_grad(!frozen);
  for (auto& parameter : blocks->parameters()) parameter.set_requires_grad(!frozen);
}

}  // namespace tokenfocus::models
