// Qwen2-VL and Qwen2.5-VL for conditional generation (Hugging Face names: `visual.*`, `model.*`,
// `lm_head.weight`): the family's vision tower, the Qwen2 decoder, image embeddings scattered at
// the image-pad tokens, M-RoPE position ids, and the LM head. The two families differ only in the
// tower.
#pragma once

#include <memory>
#include <string>

#include "models/backbone.h"
#include "models/hf_config.h"
#include "models/linear.h"
#include "models/qwen2_decoder.h"
#include "models/qwen2_vl_vision.h"

namespace tokenfocus::models {

class QwenVLBackbone : public Backbone {
 public:
  explicit QwenVLBackbone(const HfModelConfig& config);

  FullForwardOutputs forward_full(const ModelInputs& inputs) override;
  torch::Tensor hidden_at(const ModelInputs& inputs, const torch::Tensor& positions) override;
  torch::Tensor lm_head_weight() override;
  std::string model_type() const override { return config_.model_type; }
  void set_gradient_checkpointing(bool enabled) override;
  void freeze_vision(bool frozen) override;

  // Image embeddings [N,H] of the batch's unique images (vision tower once per image).
  torch::Tensor image_features(const ModelInputs& inputs, VisionTrace* trace = nullptr);
  const HfModelConfig& config() const { return config_; }

  std::shared_ptr<VisionTower> visual;
  Qwen2Decoder model{nullptr};
  Linear lm_head{nullptr};  // null when tie_word_embeddings (the embedding is the head)

 private:
  struct Prepared {
    torch::Tensor embeds, position_ids, rope_deltas, image_embeds;
  };
  // Token embeddings with image embeddings scattered in, and M-RoPE ids.
  Prepared prepare(const ModelInputs& inputs);
  HfModelConfig config_;
};

}  // namespace tokenfocus::models
