#include "models/internvl_model.h"

#include <cmath>
#include <filesystem>

#include "common/error.h"
#include "models/autocast.h"
#include "models/internlm2_decoder.h"
#include "models/packed_row.h"
#include "models/qwen2_decoder.h"
#include "models/state_dict.h"

namespace tokenfocus::models {
namespace {

// Qwen2ForCausalLM: `model.*` is the shared Qwen2 decoder (its M-RoPE with all bands on one id row
// is plain RoPE), `lm_head`.
class Qwen2LanguageModel : public InternVLLanguageModel {
 public:
  explicit Qwen2LanguageModel(const HfModelConfig& config) {
    model = register_module("model", Qwen2Decoder(config));
    lm_head = register_module("lm_head", Linear(config.hidden_size, config.vocab_size, false));
  }
  torch::Tensor embed(const torch::Tensor& ids) override { return model->embed_tokens(ids); }
  torch::Tensor decode(const torch::Tensor& embeds, const torch::Tensor& position_ids,
                       const torch::Tensor& attention_mask,
                       std::vector<torch::Tensor>* all_hidden) override {
    return model->forward(embeds, mrope_ids(position_ids), attention_mask, all_hidden);
  }
  torch::Tensor decode_at(const torch::Tensor& embeds, const torch::Tensor& position_ids,
                          const torch::Tensor& attention_mask,
                          const torch::Tensor& query_index) override {
    return model->forward_at(embeds, mrope_ids(position_ids), attention_mask, query_index);
  }
  torch::Tensor head_weight() override { return lm_head->weight; }
  void set_gradient_checkpointing(bool enabled) override {
    model->set_gradient_checkpointing(enabled);
  }
  Qwen2Decoder model{nullptr};
  Linear lm_head{nullptr};

 private:
  static torch::Tensor mrope_ids(const torch::Tensor& position_ids) {
    return position_ids.unsqueeze(0).expand({3, position_ids.size(0), position_ids.size(1)});
  }
};

// InternLM2ForCausalLM: `model.*`, `output`.
class InternLM2LanguageModel : public InternVLLanguageModel {
 public:
  explicit InternLM2LanguageModel(const InternVLConfig& config) {
    model = register_module("model", InternLM2Model(config));
    output =
        register_module("output", Linear(config.llm.hidden_size, config.llm.vocab_size, false));
  }
  torch::Tensor embed(const torch::Tensor& ids) override { return model->tok_embeddings(ids); }
  torch::Tensor decode(const torch::Tensor& embeds, const torch::Tensor& position_ids,
                       const torch::Tensor& attention_mask,
                       std::vector<torch::Tensor>* all_hidden) override {
    return model->forward(embeds, position_ids, attention_mask, all_hidden);
  }
  torch::Tensor decode_at(const torch::Tensor& embeds, const torch::Tensor& position_ids,
                          const torch::Tensor& attention_mask,
                          const torch::Tensor& query_index) override {
    return model->forward_at(embeds, position_ids, attention_mask, query_index);
  }
  torch::Tensor head_weight() override { return output->weight; }
  void set_gradient_checkpointing(bool enabled) override {
    model->set_gradient_checkpointing(enabled);
  }
  InternLM2Model model{nullptr};
  Linear output{nullptr};
};

}  // namespace

torch::Tensor internvl_pixel_shuffle(const torch::Tensor& x, double scale,
                                     const std::string& ps_version) {
  const int64_t n = x.size(0), w = x.size(1), h = x.size(2), c = x.size(3);
  const auto scaled = [scale](int64_t v) { return static_cast<int64_t>(std::llround(v * scale)); };
  const int64_t h_s = scaled(h), w_s = scaled(w);
  const int64_t c_s = static_cast<int64_t>(std::llround(c / scale));
  const int64_t c_ss = static_cast<int64_t>(std::llround(c / (scale * scale)));
  torch::Tensor y = x.reshape({n, w, h_s, c_s}).permute({0, 2, 1, 3}).contiguous();
  y = y.view({n, h_s, w_s, c_ss});
  if (ps_version != "v1") y = y.permute({0, 2, 1, 3}).contiguous();
  return y;
}

InternVLProjectorImpl::InternVLProjectorImpl(int64_t in_features, int64_t out_features) {
  norm = register_module(
      "0", torch::nn::LayerNorm(torch::nn::LayerNormOptions({in_features}).eps(1e-5)));
  fc1 = register_module("1", Linear(in_features, out_features, true));
  fc2 = register_module("3", Linear(out_features, out_features, true));
}

torch::Tensor InternVLProjectorImpl::forward(const torch::Tensor& x) {
  return fc2(torch::gelu(fc1(norm(x))));
}

InternVLBackbone::InternVLBackbone(const InternVLConfig& config) : config_(config) {
  // Registration order = InternVLChatModel's: vision_model, language_model, mlp1.
  vision_model = register_module("vision_model", InternVisionModel(config.vision));
  if (config.llm_type == "internlm2")
    language_model =
        register_module("language_model", std::make_shared<InternLM2LanguageModel>(config));
  else
    language_model =
        register_module("language_model", std::make_shared<Qwen2LanguageModel>(config.llm));
  mlp1 = register_module("mlp1", InternVLProjector(config.projector_in(), config.llm.hidden_size));
}

void InternVLBackbone::set_gradient_checkpointing(bool enabled) {
  vision_model->set_gradient_checkpointing(enabled);
  language_model->set_gradient_checkpointing(enabled);
}

void InternVLBackbone::freeze_vision(bool frozen) {
  // InternVL's freeze_backbone: the ViT only; mlp1 (the projector) keeps training.
  for (auto& parameter : vision_model->parameters()) parameter.set_requires_grad(!frozen);
}

torch::Tensor InternVLBackbone::tile_features(const torch::Tensor& pixel_values,
                                              InternVLVisionTrace* trace) {
  ++counters_.vision_calls;
  counters_.vision_images += pixel_values.size(0);
  const int64_t layers = config_.vision.num_hidden_layers;
  // select_layer indexes output_hidden_states ([0] = embeddings ... [L] = last layer).
  const int64_t used =
      config_.select_layer < 0 ? layers + 1 + config_.select_layer : config_.select_layer;
  torch::Tensor x =
      vision_model->forward(pixel_values, used, trace ? &trace->vision_hidden_states : nullptr);
  if (trace)  // the remaining layers too, for comparison with output_hidden_states
    for (int64_t i = used; i < layers; ++i)
      trace->vision_hidden_states.push_back(
          vision_model->layers->ptr<InternVisionLayerImpl>(static_cast<size_t>(i))
              ->forward(trace->vision_hidden_states.back()));
  x = x.narrow(1, 1, x.size(1) - 1);  // drop the class token
  const int64_t tiles = x.size(0), side = static_cast<int64_t>(std::lround(std::sqrt(x.size(1))));
  if (side * side != x.size(1))
    throw_user_error("InternVL: tiles must be square (got {} patches per tile)", x.size(1));
  x = internvl_pixel_shuffle(x.reshape({tiles, side, side, x.size(2)}), config_.downsample_ratio,
                             config_.ps_version);
  x = x.reshape({tiles, -1, x.size(3)});
  if (trace) trace->pixel_shuffle = x;
  torch::Tensor out = mlp1(x);
  if (trace) trace->all_tiles = out;
  return out;
}

InternVLBackbone::Prepared InternVLBackbone::prepare(const ModelInputs& inputs) {
  if (!inputs.input_ids.defined() || inputs.input_ids.dim() != 2)
    throw_user_error("model inputs: input_ids must be [batch, sequence]");
  const torch::Tensor ids = inputs.input_ids.to(torch::kLong);
  Prepared out;
  out.mask = inputs.attention_mask.defined() ? inputs.attention_mask.to(torch::kLong)
                                             : torch::ones_like(ids);
  if (out.mask.sizes() != ids.sizes())
    throw_user_error("model inputs: attention_mask and input_ids differ in shape");
  const int64_t vocab = config_.llm.vocab_size;
  if (ids.numel() > 0 && (ids.min().item<int64_t>() < 0 || ids.max().item<int64_t>() >= vocab))
    throw_user_error("model inputs: token ids must lie in [0, {})", vocab);
  out.embeds = language_model->embed(ids);
  out.position_ids = packed_positions_1d(out.mask);  // 0..S-1 unless the rows are packed
  const int64_t context_id = config_.img_context_token_id;
  const torch::Tensor context =
      context_id >= 0 ? ids == context_id : torch::zeros_like(ids).to(torch::kBool);
  const bool vision_trains = torch::GradMode::is_enabled() &&
                             (vision_model->embeddings->position_embedding.requires_grad() ||
                              mlp1->fc1->weight.requires_grad());
  torch::Tensor pixels = inputs.pixel_values;
  torch::Tensor flags;
  if (pixels.defined() && pixels.size(0) > 0) {
    if (context_id < 0)
      throw_user_error(
          "InternVL: img_context_token_id is unknown (add it to config.json or ship "
          "the tokenizer files with '<IMG_CONTEXT>')");
    if (inputs.image_grid_thw.defined()) {
      flags = inputs.image_grid_thw.to(torch::kCPU, torch::kLong).reshape({-1});
      if (flags.size(0) != pixels.size(0))
        throw_user_error("model inputs: image_flags has {} entries for {} tiles", flags.size(0),
                         pixels.size(0));
    }
  } else if (vision_trains) {
    // A text-only batch still runs one dummy tile (flag 0) so that every rank's vision tower and
    // projector take part in backward and receive (zero) gradients, as InternVL training does.
    const int64_t side = config_.force_image_size;
    pixels = torch::zeros({1, config_.vision.num_channels, side, side}, out.embeds.options());
    flags = torch::zeros({1}, torch::kLong);
  }
  if (!pixels.defined() || pixels.size(0) == 0) {
    if (context.any().item<bool>())
      throw_user_error("model inputs: the sequences hold IMG_CONTEXT tokens but no pixel_values");
    return out;
  }
  const torch::Tensor tiles = tile_features(pixels).to(out.embeds.scalar_type());
  const int64_t per_tile = tiles.size(1), hidden = tiles.size(2);
  torch::Tensor real = tiles;
  if (flags.defined()) real = tiles.index({(flags == 1).to(tiles.device())});
  const torch::Tensor rows = real.reshape({-1, hidden});  // real tiles in order, tokens in order
  out.image_embeds = rows;
  const torch::Tensor per_sequence = context.sum(1).to(torch::kCPU);
  std::vector<int64_t> gather;
  if (inputs.image_of_sequence.defined()) {
    // Each image's tiles follow the previous image's; its tile count is read off a sequence
    // showing it (tokens / num_image_token). Sequences may share an image.
    const torch::Tensor shown = inputs.image_of_sequence.to(torch::kCPU, torch::kLong);
    if (shown.numel() != ids.size(0))
      throw_user_error("model inputs: image_of_sequence has {} entries for {} sequences",
                       shown.numel(), ids.size(0));
    const int64_t images = shown.numel() > 0 ? shown.max().item<int64_t>() + 1 : 0;
    std::vector<int64_t> tokens_of_image(static_cast<size_t>(std::max<int64_t>(images, 0)), -1);
    for (int64_t b = 0; b < ids.size(0); ++b) {
      const int64_t image = shown[b].item<int64_t>(), tokens = per_sequence[b].item<int64_t>();
      if (image < 0) {
        if (tokens != 0)
          throw_user_error("sequence {}: {} IMG_CONTEXT tokens but no image", b, tokens);
        continue;
      }
      int64_t& known = tokens_of_image[static_cast<size_t>(image)];
      if (tokens == 0 || tokens % per_tile != 0 || (known >= 0 && known != tokens))
        throw_user_error("sequence {}: {} IMG_CONTEXT tokens do not fit image {} ({} per tile)", b,
                         tokens, image, per_tile);
      known = tokens;
    }
    std::vector<int64_t> offsets{0};
    for (int64_t image = 0; image < images; ++image) {
      if (tokens_of_image[static_cast<size_t>(image)] < 0)
        throw_user_error("model inputs: image {} is shown by no sequence", image);
      offsets.push_back(offsets.back() + tokens_of_image[static_cast<size_t>(image)]);
    }
    if (offsets.back() != rows.size(0))
      throw_user_error("model inputs: the images need {} tile embeddings, the tiles give {}",
                       offsets.back(), rows.size(0));
    for (int64_t b = 0; b < ids.size(0); ++b) {
      const int64_t image = shown[b].item<int64_t>();
      if (image < 0) continue;
      for (int64_t i = offsets[image]; i < offsets[image + 1]; ++i) gather.push_back(i);
    }
  } else {
    const int64_t tokens = per_sequence.sum().item<int64_t>();
    if (tokens != rows.size(0))
      throw_user_error("model inputs: {} IMG_CONTEXT tokens but the real tiles give {} embeddings",
                       tokens, rows.size(0));
    for (int64_t i = 0; i < tokens; ++i) gather.push_back(i);
  }
  // Written even when nothing is selected, so that the tower stays in the autograd graph.
  const torch::Tensor index = torch::tensor(gather, torch::kLong).to(rows.device());
  out.embeds = out.embeds.index_put({context}, rows.index_select(0, index));
  return out;
}

FullForwardOutputs InternVLBackbone::forward_full(const ModelInputs& inputs) {
  const StorageAutocast autocast(*this);
  Prepared prepared = prepare(inputs);
  counters_.decoder_tokens += inputs.input_ids.numel();
  FullForwardOutputs out;
  const torch::Tensor hidden = language_model->decode(prepared.embeds, prepared.position_ids,
                                                      prepared.mask, &out.hidden_states);
  out.logits = torch::matmul(hidden, lm_head_weight().t());
  out.image_embeds = prepared.image_embeds;
  // 1-D positions in the contract's [3,B,S] M-RoPE layout (three equal rows), no deltas.
  out.position_ids = prepared.position_ids.unsqueeze(0).expand(
      {3, prepared.position_ids.size(0), prepared.position_ids.size(1)});
  out.rope_deltas = torch::zeros({prepared.position_ids.size(0), 1}, torch::kLong);
  return out;
}

torch::Tensor InternVLBackbone::hidden_at(const ModelInputs& inputs,
                                          const torch::Tensor& positions) {
  const StorageAutocast autocast(*this);
  const torch::Tensor index = query_index(inputs, positions);
  Prepared prepared = prepare(inputs);
  return language_model->decode_at(prepared.embeds, prepared.position_ids, prepared.mask, index);
}

std::shared_ptr<InternVLBackbone> build_internvl_backbone(const InternVLConfig& config) {
  return std::make_shared<InternVLBackbone>(config);
}

std::shared_ptr<Backbone> load_internvl_backbone(const std::string& model_dir,
                                                 const LoadOptions& load) {
  const std::filesystem::path dir(model_dir);
  if (!std::filesystem::is_directory(dir)) throw_user_error("{}: not a model folder", model_dir);
  InternVLConfig config = read_internvl_config((dir / "config.json").string());
  if (config.img_context_token_id < 0)
    config.img_context_token_id = find_img_context_token_id(model_dir);
  const auto tensors = load_checkpoint_dir(model_dir);  // mapped, nothing read yet
  std::shared_ptr<InternVLBackbone> backbone;
  {
    const DefaultDtypeScope dtype(build_dtype(tensors, load));
    backbone = build_internvl_backbone(config);
  }
  StrictLoadOptions options;
  options.keep_stored_dtypes = !load.dtype;
  load_state_dict_strict(*backbone, tensors, model_dir, options);
  backbone->eval();
  return backbone;
}

}  // namespace tokenfocus::models
