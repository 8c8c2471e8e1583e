#include "trainer/gradient_reducer.h"

#include <chrono>
#include <sstream>

#include <torch/csrc/autograd/utils/lambda_post_hook.h>

#include "common/error.h"
#include "common/sha256.h"
#include "trainer/zero_shard_layout.h"

namespace tokenfocus::trainer {
namespace {

std::string describe_parameter(const NamedParameter& p) {
  std::ostringstream line;
  line << p.name << " shape " << p.tensor.sizes() << " " << c10::toString(p.tensor.scalar_type());
  return line.str();
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

std::vector<NamedParameter> trainable_parameters(const torch::nn::Module& module) {
  std::vector<NamedParameter> out;
  for (const auto& item : module.named_parameters(/*recurse=*/true))
    if (item.value().requires_grad()) out.push_back({item.key(), item.value()});
  return out;
}

void verify_ranks_agree(Communicator& comm, const std::string& config_hash,
                        const std::vector<NamedParameter>& parameters) {
  // One small collective in the common case (equal digests); the full layouts only on a mismatch.
  std::string layout = "config " + config_hash + "\n";
  for (const auto& p : parameters) layout += describe_parameter(p) + "\n";
  const auto digests = comm.all_gather_bytes(sha256_hex(layout));
  bool same = true;
  for (const auto& digest : digests) same = same && digest == digests[0];
  if (same) return;
  const auto layouts = comm.all_gather_bytes(layout);
  const auto reference = split_lines(layouts[0]);
  std::string message = "ranks disagree on the run:";
  for (size_t r = 1; r < layouts.size(); ++r) {
    if (digests[r] == digests[0]) continue;
    const auto lines = split_lines(layouts[r]);
    if (lines[0] != reference[0]) {
      message += fmt::format(
          " rank {} has config hash {} but rank 0 has {} (different config file or --set);", r,
          lines[0].substr(7), reference[0].substr(7));
      continue;
    }
    const size_t n = std::max(lines.size(), reference.size());
    for (size_t i = 1; i < n; ++i) {
      const std::string mine = i < lines.size() ? lines[i] : "(none)";
      const std::string theirs = i < reference.size() ? reference[i] : "(none)";
      if (mine == theirs) continue;
      message += fmt::format(" rank {} parameter #{} is '{}' but rank 0 has '{}';", r, i - 1, mine,
                             theirs);
      break;
    }
  }
  message.pop_back();
  throw UserError(message);
}

struct GradientReducer::Hook {
  std::shared_ptr<torch::autograd::Node> accumulator;  // kept alive: the variable holds it weakly
  uintptr_t key = 0;
};

GradientReducer::GradientReducer(Communicator& comm, std::vector<NamedParameter> parameters,
                                 double bucket_mb, const std::string& config_hash,
                                 GradientSync sync)
    : comm_(comm), mode_(sync), parameters_(std::move(parameters)) {
  if (bucket_mb <= 0) throw_internal_error("bucket_mb must be positive");
  verify_ranks_agree(comm_, config_hash, parameters_);
  const int64_t cap = static_cast<int64_t>(bucket_mb * 1024 * 1024);

  // Reverse registration order; a bucket holds one dtype and at most `cap` bytes (a larger
  // parameter gets a bucket of its own).
  bucket_of_.assign(parameters_.size(), 0);
  std::vector<std::vector<size_t>> groups;
  int64_t bytes = 0;
  for (size_t k = parameters_.size(); k-- > 0;) {
    const auto& t = parameters_[k].tensor;
    const int64_t size = t.numel() * t.element_size();
    const bool fits = !groups.empty() && bytes + size <= cap &&
                      parameters_[groups.back().front()].tensor.scalar_type() == t.scalar_type() &&
                      parameters_[groups.back().front()].tensor.device() == t.device();
    if (!fits) {
      groups.emplace_back();
      bytes = 0;
    }
    groups.back().push_back(k);
    bytes += size;
  }
  for (auto& group : groups) {
    Bucket bucket;
    int64_t numel = 0;
    for (size_t k : group) numel += parameters_[k].tensor.numel();
    const auto& first = parameters_[group.front()].tensor;
    const auto options = first.options().requires_grad(false);
    if (mode_ == GradientSync::kReduceScatter) {
      // The padding stays zero (no gradient is a view of it), so it adds nothing to any norm.
      const int64_t padded = padded_bucket_numel(numel, comm_.world_size());
      bucket.buffer = torch::zeros({padded}, options);
      bucket.shard = torch::zeros({padded / comm_.world_size()}, options);
    } else {
      bucket.buffer = torch::zeros({numel}, options);
    }
    int64_t offset = 0;
    for (size_t k : group) {
      auto& p = parameters_[k].tensor;
      // The gradient becomes a view: autograd accumulates into it in place from now on.
      p.mutable_grad() = bucket.buffer.narrow(0, offset, p.numel()).view(p.sizes());
      offset += p.numel();
      bucket_of_[k] = buckets_.size();
    }
    bucket.parameters = group;
    buckets_.push_back(std::move(bucket));
  }
  ready_this_step_.assign(parameters_.size(), 0);
  reset_pending();

  for (size_t k = 0; k < parameters_.size(); ++k) {
    auto hook = std::make_unique<Hook>();
    hook->accumulator = torch::autograd::impl::grad_accumulator(parameters_[k].tensor);
    if (!hook->accumulator)
      throw_internal_error("parameter '{}' is not a leaf that requires grad", parameters_[k].name);
    hook->key =
        hook->accumulator->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
            [this, k](const torch::autograd::variable_list& outputs,
                      const torch::autograd::variable_list&) {
              on_gradient_ready(k);
              return outputs;
            }));
    hooks_.push_back(std::move(hook));
  }
}

GradientReducer::~GradientReducer() {
  for (auto& hook : hooks_) hook->accumulator->del_post_hook(hook->key);
  for (auto& bucket : buckets_)
    if (bucket.work && !std::uncaught_exceptions()) bucket.work->wait();
}

void GradientReducer::broadcast_parameters() {
  torch::NoGradGuard no_grad;
  for (const auto& bucket : buckets_) {
    std::vector<torch::Tensor> flat;
    for (size_t k : bucket.parameters) flat.push_back(parameters_[k].tensor.detach().reshape({-1}));
    auto packed = torch::cat(flat);
    comm_.broadcast(packed, 0);
    int64_t offset = 0;
    for (size_t k : bucket.parameters) {
      auto& p = parameters_[k].tensor;
      p.detach().copy_(packed.narrow(0, offset, p.numel()).view(p.sizes()));
      offset += p.numel();
    }
  }
}

void GradientReducer::zero_grad() {
  for (auto& bucket : buckets_) {
    bucket.buffer.zero_();
    if (bucket.shard.defined()) bucket.shard.zero_();
  }
}

void GradientReducer::reset_pending() {
  for (auto& bucket : buckets_) bucket.pending = static_cast<int64_t>(bucket.parameters.size());
  std::fill(ready_this_step_.begin(), ready_this_step_.end(), 0);
  next_bucket_ = 0;
}

void GradientReducer::on_gradient_ready(size_t parameter) {
  if (!sync_ || ready_this_step_[parameter]) return;
  ready_this_step_[parameter] = 1;
  --buckets_[bucket_of_[parameter]].pending;
  launch_ready_buckets();
  // MPI makes progress only inside MPI calls: poke the buckets in flight while backward runs.
  for (size_t b = 0; b < next_bucket_; ++b) buckets_[b].work->test();
}

void GradientReducer::launch_ready_buckets() {
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].pending == 0)
    launch(next_bucket_++);
}

void GradientReducer::launch(size_t bucket) {
  auto& b = buckets_[bucket];
  for (size_t k : b.parameters) {
    const auto& grad = parameters_[k].tensor.grad();
    if (!grad.defined() || !grad.is_alias_of(b.buffer))
      throw_internal_error(
          "the gradient of '{}' is no longer a view of its bucket (was .grad replaced or set "
          "to None?)",
          parameters_[k].name);
  }
  b.work = mode_ == GradientSync::kReduceScatter
               ? comm_.reduce_scatter_async(b.buffer, b.shard, ReduceOp::kAverage)
               : comm_.all_reduce_async(b.buffer, ReduceOp::kAverage);
}

void GradientReducer::finish_backward() {
  const auto start = std::chrono::steady_clock::now();
  if (sync_) {
    // Buckets with unused parameters: their remaining gradients are zero (or this rank's
    // accumulation) and still take part, in the same order on every rank.
    while (next_bucket_ < buckets_.size()) launch(next_bucket_++);
    for (auto& bucket : buckets_) {
      bucket.work->wait();
      bucket.work.reset();
    }
  }
  reset_pending();
  last_wait_seconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace tokenfocus::trainer
