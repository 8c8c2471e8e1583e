#include "models/qwen2_vl_model.h"

#include <vector>

#include "common/error.h"
#include "models/autocast.h"
#include "models/mrope.h"
#include "models/qwen2_5_vl_vision.h"

namespace tokenfocus::models {

QwenVLBackbone::QwenVLBackbone(const HfModelConfig& config) : config_(config) {
  // Registration order = Hugging Face's named_parameters order (visual, model, lm_head).
  if (config.model_type == "qwen2_vl")
    visual = register_module("visual", std::make_shared<Qwen2VisionTower>(config.vision));
  else
    visual = register_module("visual", std::make_shared<Qwen2_5VisionTower>(config.vision));
  model = register_module("model", Qwen2Decoder(config));
  if (!config.tie_word_embeddings)
    lm_head = register_module("lm_head", Linear(config.hidden_size, config.vocab_size, false));
}

torch::Tensor QwenVLBackbone::lm_head_weight() {
  return lm_head ? lm_head->weight : model->embed_tokens->weight;
}

void QwenVLBackbone::set_gradient_checkpointing(bool enabled) {
  model->set_gradient_checkpointing(enabled);
  visual->set_gradient_checkpointing(enabled);
}

void QwenVLBackbone::freeze_vision(bool frozen) {
  visual->freeze(frozen);
}

torch::Tensor QwenVLBackbone::image_features(const ModelInputs& inputs, VisionTrace* trace) {
  ++counters_.vision_calls;
  counters_.vision_images += inputs.image_grid_thw.size(0);
  return visual->forward(inputs.pixel_values, inputs.image_grid_thw, trace);
}

QwenVLBackbone::Prepared QwenVLBackbone::prepare(const ModelInputs& inputs) {
  if (!inputs.input_ids.defined() || inputs.input_ids.dim() != 2)
    throw_user_error("model inputs: input_ids must be [batch, sequence]");
  const torch::Tensor ids = inputs.input_ids.to(torch::kLong);
  const torch::Tensor mask = inputs.attention_mask.defined()
                                 ? inputs.attention_mask.to(torch::kLong)
                                 : torch::ones_like(ids);
  if (mask.sizes() != ids.sizes())
    throw_user_error("model inputs: attention_mask and input_ids differ in shape");
  if (ids.numel() > 0 &&
      (ids.min().item<int64_t>() < 0 || ids.max().item<int64_t>() >= config_.vocab_size))
    throw_user_error("model inputs: token ids must lie in [0, {})", config_.vocab_size);
  Prepared out;
  out.embeds = model->embed_tokens(ids);
  const torch::Tensor image_tokens = ids == config_.image_token_id;
  const bool has_images = inputs.pixel_values.defined() && inputs.image_grid_thw.defined() &&
                          inputs.image_grid_thw.size(0) > 0;
  if (has_images) {
    out.image_embeds = image_features(inputs).to(out.embeds.scalar_type());
    const torch::Tensor grid = inputs.image_grid_thw.to(torch::kCPU, torch::kLong);
    const int64_t unit = config_.vision.spatial_merge_size * config_.vision.spatial_merge_size;
    std::vector<int64_t> offsets{0};
    for (int64_t j = 0; j < grid.size(0); ++j)
      offsets.push_back(offsets.back() + grid[j].prod().item<int64_t>() / unit);
    const torch::Tensor per_row = image_tokens.sum(1).to(torch::kCPU);
    std::vector<int64_t> gather;
    if (inputs.image_of_sequence.defined()) {
      // Each sequence takes the embeddings of the image it shows; images may repeat.
      const torch::Tensor shown = inputs.image_of_sequence.to(torch::kCPU, torch::kLong);
      if (shown.numel() != ids.size(0))
        throw_user_error("model inputs: image_of_sequence has {} entries for {} sequences",
                         shown.numel(), ids.size(0));
      for (int64_t b = 0; b < ids.size(0); ++b) {
        const int64_t image = shown[b].item<int64_t>();
        const int64_t tokens = per_row[b].item<int64_t>();
        const int64_t needed =
            image < 0 ? 0 : (image < grid.size(0) ? offsets[image + 1] - offsets[image] : -1);
        if (needed != tokens)
          throw_user_error("sequence {}: {} image tokens but image_of_sequence = {} needs {}", b,
                           tokens, image, needed);
        for (int64_t i = 0; i < tokens; ++i) gather.push_back(offsets[image] + i);
      }
    } else {
      const int64_t tokens = per_row.sum().item<int64_t>();
      if (tokens != offsets.back())
        throw_user_error("model inputs: {} image tokens but the images give {} embeddings", tokens,
                         offsets.back());
      for (int64_t i = 0; i < tokens; ++i) gather.push_back(i);
    }
    if (!gather.empty()) {
      const torch::Tensor index = torch::tensor(gather, torch::kLong).to(out.image_embeds.device());
      out.embeds = out.embeds.index_put({image_tokens}, out.image_embeds.index_select(0, index));
    }
  } else if (image_tokens.any().item<bool>()) {
    throw_user_error(
        "model inputs: the sequences hold image tokens but no pixel_values were given");
  }
  MropeTokens tokens;
  tokens.image_token_id = config_.image_token_id;
  tokens.vision_start_token_id = config_.vision_start_token_id;
  tokens.spatial_merge_size = config_.vision.spatial_merge_size;
  RopeIndex rope = get_rope_index(ids, mask, has_images ? inputs.image_grid_thw : torch::Tensor(),
                                  has_images ? inputs.image_of_sequence : torch::Tensor(), tokens);
  out.position_ids = rope.position_ids;
  out.rope_deltas = rope.rope_deltas;
  return out;
}

FullForwardOutputs QwenVLBackbone::forward_full(const ModelInputs& inputs) {
  const StorageAutocast autocast(*this);
  Prepared prepared = prepare(inputs);
  const torch::Tensor mask =
      inputs.attention_mask.defined() ? inputs.attention_mask : torch::ones_like(inputs.input_ids);
  counters_.decoder_tokens += inputs.input_ids.numel();
  FullForwardOutputs out;
  const torch::Tensor final_hidden =
      model->forward(prepared.embeds, prepared.position_ids, mask, &out.hidden_states);
  out.logits = torch::matmul(final_hidden, lm_head_weight().t());
  out.image_embeds = prepared.image_embeds;
  out.position_ids = prepared.position_ids;
  out.rope_deltas = prepared.rope_deltas;
  return out;
}

torch::Tensor QwenVLBackbone::hidden_at(const ModelInputs& inputs, const torch::Tensor& positions) {
  const StorageAutocast autocast(*this);
  const torch::Tensor index = query_index(inputs, positions);
  Prepared prepared = prepare(inputs);
  const torch::Tensor mask =
      inputs.attention_mask.defined() ? inputs.attention_mask : torch::ones_like(inputs.input_ids);
  return model->forward_at(prepared.embeds, prepared.position_ids, mask, index);
}

}  // namespace tokenfocus::models
