// The interface every vision-language backbone implements, and the tensors it takes. Trainer and
// losses code against this header only; architectures live one per file and are built by
// models/registry.h from config.json's model_type.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace tokenfocus::models {

struct ModelInputs {
  torch::Tensor input_ids;       // [B,S] int64, left-padded
  torch::Tensor attention_mask;  // [B,S] int64, 1 = real token
  // Qwen family: [P, C·T·patch²] float32 patches and [n_img,3] int64 (t,h,w) in patches, rows in
  // image order. Undefined for a text-only batch.
  torch::Tensor pixel_values, image_grid_thw;
  // [B] int64: which image sequence b shows (-1 = none). Lets several sequences (the questions
  // about one sample) share one image: the vision tower runs once per image. Undefined = Hugging
  // Face's convention: the image-pad blocks of the batch take the images in order.
  torch::Tensor image_of_sequence;

  // The same inputs on `device` (undefined tensors stay undefined; a no-op on their own device).
  ModelInputs to(const torch::Device& device) const;
};

struct FullForwardOutputs {
  torch::Tensor logits;        // [B,S,V]
  torch::Tensor image_embeds;  // [N,H] merger output in image order (undefined without images)
  torch::Tensor position_ids;  // [3,B,S] M-RoPE ids
  torch::Tensor rope_deltas;   // [B,1]
  // Hugging Face's output_hidden_states: [0] = input embeddings after the image scatter,
  // [l] = output of layer l-1, [L] = final-norm output.
  std::vector<torch::Tensor> hidden_states;
};

// What a backbone has run since construction (or reset): benchmarks turn it into FLOPs, tests
// check that the vision tower ran once per distinct image.
struct BackboneCounters {
  int64_t vision_calls = 0;    // forwards of the vision tower
  int64_t vision_images = 0;   // images (InternVL: tiles) they processed
  int64_t decoder_tokens = 0;  // rows x positions the decoder layers ran over
};

class Backbone : public torch::nn::Module {
 public:
  // Every position's logits: parity checks and `debug forward`.
  virtual FullForwardOutputs forward_full(const ModelInputs& inputs) = 0;
  // Final-norm hidden states only at `positions` ([Q,2] int64 rows of (sequence, position)):
  // [Q,H]. Never applies the LM head and stops the decoder at the last queried position.
  virtual torch::Tensor hidden_at(const ModelInputs& inputs, const torch::Tensor& positions) = 0;
  // [V,H]: the LM head (or the tied input embedding).
  virtual torch::Tensor lm_head_weight() = 0;
  // hidden · W[rows]ᵀ: logits over the given vocabulary rows only (all rows if `rows` undefined).
  torch::Tensor focus_logits(const torch::Tensor& hidden, const torch::Tensor& rows = {});
  virtual std::string model_type() const = 0;
  // Recompute each decoder / vision block in backward instead of keeping its activations.
  virtual void set_gradient_checkpointing(bool enabled) = 0;
  // Vision tower frozen (no gradients); the merger (projector into the LLM) stays trainable.
  virtual void freeze_vision(bool frozen) = 0;

  const BackboneCounters& counters() const { return counters_; }
  void reset_counters() { counters_ = {}; }

 protected:
  // hidden_at's `positions` as an int64 index on the inputs' device, checked against the batch
  // (UserError), with the decoder positions it will run (up to the last queried one) counted.
  torch::Tensor query_index(const ModelInputs& inputs, const torch::Tensor& positions);

  BackboneCounters counters_;
};

// Runs `block(input)` without keeping its activations; backward re-runs it with grad enabled and
// returns the gradients of `input` and of every parameter in `parameters` that requires grad (the
// parameters are inputs of the autograd node, so gradients flow even when `input` needs none, as
// with LoRA on a frozen embedding). The recompute replays forward's random draws (LoRA dropout):
// the CPU generator's state, and the CUDA one of the input's device, are saved with the node and
// restored around it, as torch.utils.checkpoint's preserve_rng_state does; so is the autocast
// state forward ran under (backward runs outside the caller's autocast scope).
torch::Tensor run_checkpointed(const std::function<torch::Tensor(const torch::Tensor&)>& block,
                               const torch::Tensor& input,
                               const std::vector<torch::Tensor>& parameters);

// `block(input)`; with `checkpointing` through run_checkpointed with `module`'s parameters. How
// every decoder layer and vision block runs. `block` captures by value: backward re-runs it after
// the caller's frame is gone.
torch::Tensor run_block(bool checkpointing,
                        const std::function<torch::Tensor(const torch::Tensor&)>& block,
                        const torch::Tensor& input, const torch::nn::Module& module);

}  // namespace tokenfocus::models
