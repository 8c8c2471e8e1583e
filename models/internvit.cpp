#include "models/internvit.h"

#include <cmath>

#include "common/error.h"
#include "models/backbone.h"

namespace tokenfocus::models {

PatchEmbeddingImpl::PatchEmbeddingImpl(int64_t channels, int64_t hidden, int64_t patch)
    : patch_(patch) {
  weight = register_parameter("weight", torch::zeros({hidden, channels, patch, patch}));
  bias = register_parameter("bias", torch::zeros({hidden}));
}

torch::Tensor PatchEmbeddingImpl::forward(const torch::Tensor& pixels) {
  const int64_t tiles = pixels.size(0), channels = pixels.size(1);
  const int64_t rows = pixels.size(2) / patch_, cols = pixels.size(3) / patch_;
  // A non-overlapping conv is a matmul over unfolded patches (channel, y, x order as the kernel).
  const torch::Tensor patches = pixels.view({tiles, channels, rows, patch_, cols, patch_})
                                    .permute({0, 2, 4, 1, 3, 5})
                                    .reshape({tiles, rows * cols, channels * patch_ * patch_});
  return torch::addmm(bias, patches.reshape({tiles * rows * cols, -1}),
                      weight.view({weight.size(0), -1}).t())
      .view({tiles, rows * cols, weight.size(0)});
}

InternVisionEmbeddingsImpl::InternVisionEmbeddingsImpl(const InternVisionConfig& config)
    : config_(config) {
  const int64_t positions = config.grid() * config.grid() + 1;
  class_embedding = register_parameter("class_embedding", torch::zeros({1, 1, config.hidden_size}));
  patch_embedding =
      register_module("patch_embedding",
                      PatchEmbedding(config.num_channels, config.hidden_size, config.patch_size));
  position_embedding =
      register_parameter("position_embedding", torch::zeros({1, positions, config.hidden_size}));
}

torch::Tensor InternVisionEmbeddingsImpl::forward(const torch::Tensor& pixels) {
  if (pixels.dim() != 4 || pixels.size(1) != config_.num_channels ||
      pixels.size(2) % config_.patch_size != 0 || pixels.size(3) % config_.patch_size != 0)
    throw_user_error("InternViT: pixel_values must be [tiles, {}, H, W] with H, W multiples of {}",
                     config_.num_channels, config_.patch_size);
  const torch::Tensor x = pixels.to(patch_embedding->weight.scalar_type());
  const int64_t rows = x.size(2) / config_.patch_size, cols = x.size(3) / config_.patch_size;
  const torch::Tensor patches = patch_embedding(x);
  const int64_t tiles = patches.size(0), hidden = patches.size(2);
  const torch::Tensor cls = class_embedding.expand({tiles, 1, hidden}).to(patches.scalar_type());
  // The patch part of the position table is resized (bicubic, align_corners false, in float32)
  // from the trained grid to this tile's grid, as OpenGVLab's _get_pos_embed does.
  const int64_t grid = config_.grid();
  const torch::Tensor table = position_embedding.narrow(1, 1, grid * grid)
                                  .to(torch::kFloat)
                                  .reshape({1, grid, grid, hidden})
                                  .permute({0, 3, 1, 2});
  namespace F = torch::nn::functional;
  const torch::Tensor resized = F::interpolate(table, F::InterpolateFuncOptions()
                                                          .size(std::vector<int64_t>{rows, cols})
                                                          .mode(torch::kBicubic)
                                                          .align_corners(false))
                                    .reshape({1, hidden, rows * cols})
                                    .permute({0, 2, 1})
                                    .to(patches.scalar_type());
  const torch::Tensor positions =
      torch::cat({position_embedding.narrow(1, 0, 1).to(patches.scalar_type()), resized}, 1);
  return torch::cat({cls, patches}, 1) + positions;
}

VisionNormImpl::VisionNormImpl(const std::string& norm_type, int64_t dim, double eps)
    : rms_(norm_type == "rms_norm"), eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
  if (!rms_) bias = register_parameter("bias", torch::zeros({dim}));
}

torch::Tensor VisionNormImpl::forward(const torch::Tensor& x) {
  if (!rms_) return torch::layer_norm(x, {x.size(-1)}, weight, bias, eps_);
  const torch::Tensor h = x.to(torch::kFloat);
  return weight * (h * torch::rsqrt(h.pow(2).mean(-1, true) + eps_)).to(x.scalar_type());
}

InternAttentionImpl::InternAttentionImpl(const InternVisionConfig& config)
    : heads_(config.num_attention_heads), head_dim_(config.head_dim()) {
  const int64_t hidden = config.hidden_size;
  qkv = register_module("qkv", Linear(hidden, 3 * hidden, config.qkv_bias));
  proj = register_module("proj", Linear(hidden, hidden, true));
  if (config.qk_normalization) {
    // Over the full width, before the head split.
    q_norm = register_module("q_norm", RmsNorm(hidden, config.layer_norm_eps));
    k_norm = register_module("k_norm", RmsNorm(hidden, config.layer_norm_eps));
  }
}

torch::Tensor InternAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t batch = x.size(0), seq = x.size(1), hidden = x.size(2);
  const torch::Tensor packed = qkv(x).view({batch, seq, 3, hidden});
  torch::Tensor q = packed.select(2, 0), k = packed.select(2, 1);
  const torch::Tensor v = packed.select(2, 2);
  if (q_norm) {
    q = q_norm(q);
    k = k_norm(k);
  }
  auto heads_first = [&](const torch::Tensor& t) {
    return t.reshape({batch, seq, heads_, head_dim_}).transpose(1, 2);
  };
  const torch::Tensor out = attention(heads_first(q), heads_first(k), heads_first(v), {});
  return proj(out.transpose(1, 2).reshape({batch, seq, hidden}));
}

InternMlpImpl::InternMlpImpl(const InternVisionConfig& config) {
  fc1 = register_module("fc1", Linear(config.hidden_size, config.intermediate_size, true));
  fc2 = register_module("fc2", Linear(config.intermediate_size, config.hidden_size, true));
}

torch::Tensor InternMlpImpl::forward(const torch::Tensor& x) {
  return fc2(torch::gelu(fc1(x)));
}

InternVisionLayerImpl::InternVisionLayerImpl(const InternVisionConfig& config) {
  attn = register_module("attn", InternAttention(config));
  mlp = register_module("mlp", InternMlp(config));
  norm1 = register_module("norm1",
                          VisionNorm(config.norm_type, config.hidden_size, config.layer_norm_eps));
  norm2 = register_module("norm2",
                          VisionNorm(config.norm_type, config.hidden_size, config.layer_norm_eps));
  ls1 = register_parameter("ls1", torch::full({config.hidden_size}, config.initializer_factor));
  ls2 = register_parameter("ls2", torch::full({config.hidden_size}, config.initializer_factor));
}

torch::Tensor InternVisionLayerImpl::forward(const torch::Tensor& x) {
  const torch::Tensor h = x + attn(norm1(x)) * ls1;
  return h + mlp(norm2(h)) * ls2;
}

InternVisionModelImpl::InternVisionModelImpl(const InternVisionConfig& config) : config_(config) {
  embeddings = register_module("embeddings", InternVisionEmbeddings(config));
  auto encoder = register_module("encoder", std::make_shared<torch::nn::Module>());
  layers = encoder->register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.num_hidden_layers; ++i)
    layers->push_back(InternVisionLayer(config));
}

torch::Tensor InternVisionModelImpl::forward(const torch::Tensor& pixels, int64_t layers_used,
                                             std::vector<torch::Tensor>* all_hidden) {
  torch::Tensor x = embeddings(pixels);
  if (all_hidden) all_hidden->push_back(x);
  for (int64_t i = 0; i < layers_used; ++i) {
    auto layer = layers->ptr<InternVisionLayerImpl>(static_cast<size_t>(i));
    x = run_block(
        checkpointing_, [layer](const torch::Tensor& in) { return layer->forward(in); }, x, *layer);
    if (all_hidden) all_hidden->push_back(x);
  }
  return x;
}

}  // namespace tokenfocus::models
