// OpenGVLab's InternVLChatModel (InternVL2 / 2.5): InternViT tiles (`vision_model.*`), the hidden
// states of `select_layer` without the class token, pixel shuffle (downsample_ratio, ps_version),
// the projector `mlp1` (LayerNorm, Linear, GELU, Linear), the projected tile embeddings written
// over the IMG_CONTEXT tokens, and the LLM `language_model.*`: Qwen2 (InternVL2.5-1B/4B; the Qwen2
// decoder of models/qwen2_decoder.h) or InternLM2 (InternVL2.5-8B/26B). Positions are arange(S)
// in every row, as InternVLChatModel.forward passes position_ids=None (left padding included).
//
// ModelInputs for this family: pixel_values [T,3,H,W] (tiles of all images, in order);
// image_grid_thw, when defined, is InternVL's `image_flags` ([T] or [T,1], 1 = real tile, 0 =
// dummy tile of a text-only sample); image_of_sequence as for the Qwen family (each image's tile
// count = its sequence's IMG_CONTEXT tokens / num_image_token).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/backbone.h"
#include "models/internvit.h"
#include "models/internvl_config.h"
#include "models/linear.h"
#include "models/state_dict.h"

namespace tokenfocus::models {

// pixel_shuffle of modeling_internvl_chat.py: x [n,w,h,c] -> [n, h·s, w·s, c/s²] (v1) or its
// spatial transpose (v2, the released InternVL2/2.5 setting).
torch::Tensor internvl_pixel_shuffle(const torch::Tensor& x, double scale,
                                     const std::string& ps_version);

// `mlp1`: modules "0" (LayerNorm, eps 1e-5), "1" (Linear), "3" (Linear) as nn.Sequential names
// them (index 2 is the parameter-free GELU).
class InternVLProjectorImpl : public torch::nn::Module {
 public:
  InternVLProjectorImpl(int64_t in_features, int64_t out_features);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::LayerNorm norm{nullptr};
  Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(InternVLProjector);

// `language_model`: the causal LM with its own names (Qwen2: model.* + lm_head; InternLM2:
// model.* + output). Positions are 1-D.
class InternVLLanguageModel : public torch::nn::Module {
 public:
  virtual torch::Tensor embed(const torch::Tensor& ids) = 0;
  // embeds [B,S,H], position ids [B,S], mask [B,S] -> final-norm hidden states [B,S,H].
  virtual torch::Tensor decode(const torch::Tensor& embeds, const torch::Tensor& position_ids,
                               const torch::Tensor& attention_mask,
                               std::vector<torch::Tensor>* all_hidden) = 0;
  virtual torch::Tensor decode_at(const torch::Tensor& embeds, const torch::Tensor& position_ids,
                                  const torch::Tensor& attention_mask,
                                  const torch::Tensor& query_index) = 0;
  virtual torch::Tensor head_weight() = 0;
  virtual void set_gradient_checkpointing(bool enabled) = 0;
};

// Intermediates for parity checks.
struct InternVLVisionTrace {
  std::vector<torch::Tensor> vision_hidden_states;  // [0] embeddings, [k] after layer k
  torch::Tensor pixel_shuffle;                      // [T, tokens, C·s⁻²] (mlp1 input)
  torch::Tensor all_tiles;                          // [T, tokens, H] (mlp1 output)
};

class InternVLBackbone : public Backbone {
 public:
  explicit InternVLBackbone(const InternVLConfig& config);

  FullForwardOutputs forward_full(const ModelInputs& inputs) override;
  torch::Tensor hidden_at(const ModelInputs& inputs, const torch::Tensor& positions) override;
  torch::Tensor lm_head_weight() override { return language_model->head_weight(); }
  std::string model_type() const override { return "internvl_chat"; }
  void set_gradient_checkpointing(bool enabled) override;
  void freeze_vision(bool frozen) override;

  // extract_feature: [T,3,H,W] tiles -> [T, num_image_token, llm hidden].
  torch::Tensor tile_features(const torch::Tensor& pixel_values,
                              InternVLVisionTrace* trace = nullptr);
  const InternVLConfig& config() const { return config_; }
  void set_img_context_token_id(int64_t id) { config_.img_context_token_id = id; }

  InternVisionModel vision_model{nullptr};
  std::shared_ptr<InternVLLanguageModel> language_model;
  InternVLProjector mlp1{nullptr};

 private:
  struct Prepared {
    torch::Tensor embeds, position_ids, mask, image_embeds;
  };
  Prepared prepare(const ModelInputs& inputs);
  InternVLConfig config_;
};

// A backbone for `config` with all weights zero / one (load or initialise them next).
std::shared_ptr<InternVLBackbone> build_internvl_backbone(const InternVLConfig& config);
// MODEL_DIR with an internvl_chat config.json: the backbone with every weight loaded strictly
// (one UserError lists missing, unexpected and mis-shaped tensors), in eval mode.
// img_context_token_id: config.json's key, else the folder's tokenizer files. Weights are stored as
// `load` says (models/state_dict.h).
std::shared_ptr<Backbone> load_internvl_backbone(const std::string& model_dir,
                                                 const LoadOptions& load = {});

}  // namespace tokenfocus::models
