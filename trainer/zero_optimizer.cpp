#include "trainer/zero_optimizer.h"

#include <cmath>

#include "common/error.h"
#include "models/state_dict.h"

namespace tokenfocus::trainer {
namespace {

std::string bucket_key(const char* kind, size_t bucket) {
  return fmt::format("{}/bucket{:05d}", kind, bucket);
}

}  // namespace

ZeroAdamW::ZeroAdamW(GradientReducer& reducer, AdamWOptions options)
    : reducer_(reducer), comm_(reducer.communicator()), options_(options) {
  if (reducer_.sync_mode() != GradientSync::kReduceScatter)
    throw_internal_error("ZeroAdamW needs a reducer that reduce-scatters (GradientSync)");
  const auto& parameters = reducer_.parameters();
  const auto& buckets = reducer_.buckets();
  std::vector<std::vector<size_t>> bucket_parameters;
  for (const auto& bucket : buckets) bucket_parameters.push_back(bucket.parameters);
  std::vector<int64_t> numels;
  for (const auto& p : parameters) numels.push_back(p.tensor.numel());
  layout_ = plan_zero_shards(bucket_parameters, numels, comm_.world_size(), comm_.rank());

  torch::NoGradGuard no_grad;
  for (size_t b = 0; b < buckets.size(); ++b) {
    const auto& shard = layout_.buckets[b];
    if (buckets[b].buffer.numel() != shard.padded_numel)
      throw_internal_error("bucket {} has {} elements, the ZeRO layout {}", b,
                           buckets[b].buffer.numel(), shard.padded_numel);
    auto flat = torch::zeros({shard.padded_numel}, buckets[b].buffer.options());
    int64_t offset = 0;
    for (size_t k : buckets[b].parameters) {
      const auto& p = parameters[k].tensor;
      auto view = flat.narrow(0, offset, p.numel());
      view.copy_(p.detach().reshape({-1}));
      // Same dtype, device and shape: autograd keeps the parameter's accumulator (and the
      // reducer's hook on it); only the storage changes.
      p.set_data(view.view(p.sizes()));
      offset += p.numel();
    }
    flat_parameters_.push_back(flat);
    exp_avg_.push_back(torch::zeros({shard.block_numel}, flat.options()));
    exp_avg_sq_.push_back(torch::zeros({shard.block_numel}, flat.options()));
    for (const auto& piece : shard.pieces) {
      Group& group = decays(parameters[piece.parameter]) ? decay_ : no_decay_;
      group.params.push_back(flat.narrow(0, shard.block_begin + piece.shard_offset, piece.numel));
      group.grads.push_back(buckets[b].shard.narrow(0, piece.shard_offset, piece.numel));
      group.exp_avgs.push_back(exp_avg_[b].narrow(0, piece.shard_offset, piece.numel));
      group.exp_avg_sqs.push_back(exp_avg_sq_[b].narrow(0, piece.shard_offset, piece.numel));
    }
  }
}

double ZeroAdamW::clip_grad_norm(double max_norm) {
  torch::NoGradGuard no_grad;
  const auto& buckets = reducer_.buckets();
  if (buckets.empty()) return 0.0;
  // Squared shard norms in double, summed over ranks: every rank gets the same global norm.
  auto squared = torch::zeros(
      {1}, torch::TensorOptions().dtype(torch::kDouble).device(buckets.front().shard.device()));
  for (const auto& bucket : buckets)
    squared +=
        torch::linalg_vector_norm(bucket.shard, 2, c10::nullopt, false, torch::kDouble).square();
  comm_.all_reduce(squared, ReduceOp::kSum);
  const double value = std::sqrt(squared.item<double>());
  if (!std::isfinite(value) || max_norm <= 0) return value;
  // clip_grad_norm's float32 coefficient, so that clipped gradients match the DDP run's.
  const auto total = torch::full({}, value, squared.options().dtype(torch::kFloat));
  const auto coefficient = torch::clamp_max(max_norm / (total + 1e-6), 1.0);
  for (const auto& bucket : buckets) bucket.shard.mul_(coefficient.to(bucket.shard.device()));
  return value;
}

void ZeroAdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  ++step_;
  const auto& buckets = reducer_.buckets();
  if (buckets.empty()) return;
  // As AdamW::step: the kernel only reads the incremented step count, one tensor per device.
  const auto step_count = torch::full(
      {}, static_cast<double>(step_),
      torch::TensorOptions().dtype(torch::kFloat).device(buckets.front().shard.device()));
  for (const bool decay : {true, false}) {
    const Group& group = decay ? decay_ : no_decay_;
    if (group.params.empty()) continue;
    const std::vector<torch::Tensor> steps(group.params.size(), step_count);
    at::_fused_adamw_(group.params, group.grads, group.exp_avgs, group.exp_avg_sqs,
                      /*max_exp_avg_sqs=*/{}, steps, lr, options_.beta1, options_.beta2,
                      decay ? options_.weight_decay : 0.0, options_.eps, /*amsgrad=*/false,
                      /*maximize=*/false);
  }
  // Every bucket's gather in flight at once; each rank's block is already in place.
  std::vector<std::unique_ptr<CollectiveWork>> works;
  for (size_t b = 0; b < flat_parameters_.size(); ++b) {
    const auto& shard = layout_.buckets[b];
    works.push_back(comm_.all_gather_async(
        flat_parameters_[b].narrow(0, shard.block_begin, shard.block_numel), flat_parameters_[b]));
  }
  for (auto& work : works) work->wait();
}

torch::Tensor ZeroAdamW::layout_tensor() const {
  std::vector<int64_t> values = {layout_.world_size, layout_.rank};
  for (const auto& bucket : layout_.buckets) values.push_back(bucket.padded_numel);
  return torch::tensor(values, torch::kLong);
}

std::map<std::string, torch::Tensor> ZeroAdamW::state_dict() const {
  std::map<std::string, torch::Tensor> state;
  state["step"] = torch::tensor({step_}, torch::kLong);
  state["shard_layout"] = layout_tensor();
  for (size_t b = 0; b < exp_avg_.size(); ++b) {
    state[bucket_key("exp_avg", b)] = exp_avg_[b];
    state[bucket_key("exp_avg_sq", b)] = exp_avg_sq_[b];
  }
  return state;
}

void ZeroAdamW::load_state_dict(const std::map<std::string, torch::Tensor>& state,
                                const std::string& source) {
  auto get = [&](const std::string& key) -> const torch::Tensor& {
    const auto it = state.find(key);
    if (it == state.end()) throw_user_error("{}: no tensor '{}'", source, key);
    return it->second;
  };
  const auto expected = layout_tensor();
  const auto& saved = get("shard_layout");
  if (saved.scalar_type() != torch::kLong || !saved.sizes().equals(expected.sizes()) ||
      !torch::equal(saved, expected))
    throw_user_error(
        "{}: tensor 'shard_layout' (world size, rank, padded bucket sizes) is {}, this run's ZeRO "
        "layout is {} (another model, distributed.bucket_mb or world size?)",
        source, models::tensor_text(saved), models::tensor_text(expected));
  const auto& step = get("step");
  if (step.numel() != 1 || step.scalar_type() != torch::kLong)
    throw_user_error("{}: tensor 'step' is {}, expected Long [1]", source,
                     models::tensor_text(step));
  torch::NoGradGuard no_grad;
  for (size_t b = 0; b < exp_avg_.size(); ++b) {
    for (auto* target : {&exp_avg_[b], &exp_avg_sq_[b]}) {
      const std::string key = bucket_key(target == &exp_avg_[b] ? "exp_avg" : "exp_avg_sq", b);
      const auto& tensor = get(key);
      if (tensor.sizes() != target->sizes() || tensor.scalar_type() != target->scalar_type())
        throw_user_error("{}: tensor '{}' is {}, the optimizer expects {}", source, key,
                         models::tensor_text(tensor), models::tensor_text(*target));
      target->copy_(tensor);
    }
  }
  step_ = step.item<int64_t>();
}

int64_t ZeroAdamW::state_bytes() const {
  int64_t bytes = 0;
  for (size_t b = 0; b < exp_avg_.size(); ++b)
    bytes += (exp_avg_[b].numel() + exp_avg_sq_[b].numel()) * exp_avg_[b].element_size();
  return bytes;
}

}  // namespace tokenfocus::trainer
