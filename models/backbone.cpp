#include "models/backbone.h"

#include <memory>
#include <mutex>
#include <vector>

#include "common/error.h"
#include "models/autocast.h"

namespace tokenfocus::models {

torch::Tensor Backbone::query_index(const ModelInputs& inputs, const torch::Tensor& positions) {
  if (!positions.defined() || positions.dim() != 2 || positions.size(1) != 2 ||
      positions.size(0) == 0)
    throw_user_error("hidden_at: positions must be a non-empty [Q,2] list of (sequence, position)");
  const torch::Tensor index = positions.to(inputs.input_ids.device(), torch::kLong);
  const torch::Tensor rows = index.select(1, 0), columns = index.select(1, 1);
  const int64_t last_column = columns.max().item<int64_t>();
  if (rows.min().item<int64_t>() < 0 || rows.max().item<int64_t>() >= inputs.input_ids.size(0) ||
      columns.min().item<int64_t>() < 0 || last_column >= inputs.input_ids.size(1))
    throw_user_error("hidden_at: a position lies outside the [{}, {}] batch",
                     inputs.input_ids.size(0), inputs.input_ids.size(1));
  // The decoder stops at the last queried position.
  counters_.decoder_tokens += inputs.input_ids.size(0) * (last_column + 1);
  return index;
}

torch::Tensor Backbone::focus_logits(const torch::Tensor& hidden, const torch::Tensor& rows) {
  const StorageAutocast autocast(*this);
  torch::Tensor weight = lm_head_weight();
  if (rows.defined()) weight = weight.index_select(0, rows.to(torch::kLong));
  return torch::matmul(hidden, weight.t());
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using Block = std::function<torch::Tensor(const torch::Tensor&)>;

// The generators a block may draw from (LoRA dropout): the CPU one, and the CUDA one of the
// input's device. torch.utils.checkpoint's preserve_rng_state does the same.
std::vector<at::Generator> generators_for(const torch::Tensor& input) {
  std::vector<at::Generator> generators{at::globalContext().defaultGenerator(c10::DeviceType::CPU)};
  if (input.is_cuda()) generators.push_back(at::globalContext().defaultGenerator(input.device()));
  return generators;
}

std::vector<torch::Tensor> states_of(std::vector<at::Generator> generators) {
  std::vector<torch::Tensor> states;
  for (auto& generator : generators) {
    std::lock_guard<std::mutex> lock(generator.mutex());
    states.push_back(generator.get_state());
  }
  return states;
}

void restore(std::vector<at::Generator>& generators, const std::vector<torch::Tensor>& states) {
  for (size_t i = 0; i < generators.size(); ++i) {
    std::lock_guard<std::mutex> lock(generators[i].mutex());
    generators[i].set_state(states[i]);
  }
}

struct BlockHolder : torch::CustomClassHolder {
  BlockHolder(std::shared_ptr<Block> b, std::vector<torch::Tensor> states)
      : block(std::move(b)), rng_states(std::move(states)), autocast(AutocastState::current()) {}
  std::shared_ptr<Block> block;
  std::vector<torch::Tensor> rng_states;  // the generators' states when forward ran the block
  AutocastState autocast;  // backward runs outside forward's autocast scopes: re-enter them
};

// inputs = [input, parameters...]; only the block's output is kept between forward and backward.
struct CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
  static torch::Tensor forward(AutogradContext* ctx, at::TensorList inputs,
                               std::shared_ptr<Block> block) {
    // The block travels to backward inside the node's own context (an opaque capsule), with the
    // random generators' states: the recompute must draw the dropout masks forward drew.
    ctx->saved_data["block"] = c10::IValue::make_capsule(
        c10::make_intrusive<BlockHolder>(block, states_of(generators_for(inputs[0]))));
    ctx->save_for_backward(inputs.vec());
    return (*block)(inputs[0]);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto capsule = ctx->saved_data["block"].toCapsule();
    const auto* holder = static_cast<BlockHolder*>(capsule.get());
    std::shared_ptr<Block> block = holder->block;
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
      // Replay forward's random draws, then give the generators back the state they had here, so
      // that backward leaves no trace in the random stream.
      std::vector<at::Generator> generators = generators_for(input);
      const std::vector<torch::Tensor> now = states_of(generators);
      restore(generators, holder->rng_states);
      torch::AutoGradMode enable(true);
      const AutocastState::Guard autocast(holder->autocast);
      try {
        output = (*block)(input);
      } catch (...) {
        restore(generators, now);
        throw;
      }
      restore(generators, now);
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
