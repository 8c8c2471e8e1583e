#include "models/backbone.h"

#include <memory>

namespace tokenfocus::models {

torch::Tensor Backbone::focus_logits(const torch::Tensor& hidden, const torch::Tensor& rows) {
  torch::Tensor weight = lm_head_weight();
  if (rows.defined()) weight = weight.index_select(0, rows.to(torch::kLong));
  return torch::matmul(hidden, weight.t());
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using Block = std::function<torch::Tensor(const torch::Tensor&)>;

struct BlockHolder : torch::CustomClassHolder {
  explicit BlockHolder(std::shared_ptr<Block> b) : block(std::move(b)) {}
  std::shared_ptr<Block> block;
};

// inputs = [input, parameters...]; only the block's output is kept between forward and backward.
struct CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
  static torch::Tensor forward(AutogradContext* ctx, at::TensorList inputs,
                               std::shared_ptr<Block> block) {
    // The block travels to backward inside the node's own context (an opaque capsule).
    ctx->saved_data["block"] = c10::IValue::make_capsule(c10::make_intrusive<BlockHolder>(block));
    ctx->save_for_backward(inputs.vec());
    return (*block)(inputs[0]);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto holder = ctx->saved_data["block"].toCapsule();
    std::shared_ptr<Block> block = static_cast<BlockHolder*>(holder.get())->block;
    variable_list saved = ctx->get_saved_variables();
    torch::Tensor input = saved[0].detach().requires_grad_(saved[0].requires_grad());
    variable_list wrt;
    std::vector<size_t> slot;  // which entry of `saved` each entry of `wrt` is
    if (input.requires_grad()) {
      wrt.push_back(input);
      slot.push_back(0);
    }
    for (size_t i = 1; i < saved.size(); ++i)
      if (saved[i].requires_grad()) {
        wrt.push_back(saved[i]);
        slot.push_back(i);
      }
    variable_list grads(saved.size() + 1);  // one per tensor, plus the (non-tensor) block argument
    if (wrt.empty()) return grads;
    torch::Tensor output;
    {
      torch::AutoGradMode enable(true);
      output = (*block)(input);
    }
    variable_list computed = torch::autograd::grad({output}, wrt, {grad_outputs[0]},
                                                   /*retain_graph=*/false,
                                                   /*create_graph=*/false, /*allow_unused=*/true);
    for (size_t i = 0; i < wrt.size(); ++i) grads[slot[i]] = computed[i];
    return grads;
  }
};

}  // namespace

torch::Tensor run_checkpointed(const Block& block, const torch::Tensor& input,
                               const std::vector<torch::Tensor>& parameters) {
  if (!torch::GradMode::is_enabled()) return block(input);
  std::vector<torch::Tensor> inputs{input};
  for (const auto& parameter : parameters)
    if (parameter.requires_grad()) inputs.push_back(parameter);
  if (inputs.size() == 1 && !input.requires_grad()) return block(input);
  return CheckpointFunction::apply(at::TensorList(inputs), std::make_shared<Block>(block));
}

torch::Tensor run_block(bool checkpointing, const Block& block, const torch::Tensor& input,
                        const torch::nn::Module& module) {
  return checkpointing ? run_checkpointed(block, input, module.parameters()) : block(input);
}

ModelInputs ModelInputs::to(const torch::Device& device) const {
  auto moved = [&](const torch::Tensor& t) { return t.defined() ? t.to(device) : t; };
  return {moved(input_ids), moved(attention_mask), moved(pixel_values), moved(image_grid_thw),
          moved(image_of_sequence)};
}

}  // namespace tokenfocus::models
