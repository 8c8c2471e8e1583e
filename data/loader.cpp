#include "data/loader.h"

#include "common/error.h"

namespace tokenfocus::data {

BatchLoader::BatchLoader(BuildFn build, std::vector<std::vector<int64_t>> plan, int64_t workers,
                         int64_t prefetch)
    : build_(std::move(build)), plan_(std::move(plan)), prefetch_(std::max<int64_t>(prefetch, 1)) {
  if (workers < 0) throw_user_error("data.loader.workers: {} must be at least 0", workers);
  for (int64_t i = 0; i < workers; ++i) threads_.emplace_back([this] { work(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  room_.notify_all();
  for (auto& t : threads_) t.join();
}

void BatchLoader::work() {
  while (true) {
    int64_t job = 0;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      room_.wait(lock, [&] {
        return stopping_ || next_job_ >= size() || next_job_ < consumed_ + prefetch_;
      });
      if (stopping_ || next_job_ >= size()) return;
      job = next_job_++;
    }
    Slot slot;
    try {
      slot.batch = build_(plan_[static_cast<size_t>(job)]);
    } catch (...) {
      slot.error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      results_[job] = std::move(slot);
    }
    ready_.notify_all();
  }
}

std::optional<Batch> BatchLoader::next() {
  if (threads_.empty()) {  // synchronous mode
    if (consumed_ >= size()) return std::nullopt;
    return build_(plan_[static_cast<size_t>(consumed_++)]);
  }
  Slot slot;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (failure_) std::rethrow_exception(failure_);  // the plan cannot go on after a failed batch
    if (consumed_ >= size()) return std::nullopt;
    ready_.wait(lock, [&] { return results_.count(consumed_) > 0; });
    auto it = results_.find(consumed_);
    slot = std::move(it->second);
    results_.erase(it);
    ++consumed_;
    if (slot.error) {
      failure_ = slot.error;
      stopping_ = true;  // let the workers go
    }
  }
  room_.notify_all();
  if (slot.error) std::rethrow_exception(slot.error);
  return std::move(slot.batch);
}

std::vector<std::vector<int64_t>> plan_epoch(const DistributedSampler& sampler, int64_t epoch,
                                             int64_t first_batch,
                                             const std::vector<int64_t>& dataset) {
  if (static_cast<int64_t>(dataset.size()) != sampler.num_samples())
    throw_internal_error("plan_epoch: sampler over {} samples, dataset of {}",
                         sampler.num_samples(), dataset.size());
  std::vector<std::vector<int64_t>> plan;
  for (int64_t b = first_batch; b < sampler.batches_per_epoch(); ++b) {
    std::vector<int64_t> batch;
    for (int64_t position : sampler.batch(epoch, b))
      batch.push_back(dataset[static_cast<size_t>(position)]);
    plan.push_back(std::move(batch));
  }
  return plan;
}

}  // namespace tokenfocus::data
