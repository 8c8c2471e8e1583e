#include "data/sampler.h"

#include <numeric>

#include "common/error.h"

namespace tokenfocus::data {

SamplerCursor SamplerCursor::from_ints(const std::vector<int64_t>& state) {
  if (state.size() != 2 || state[0] < 0 || state[1] < 0)
    throw_user_error(
        "sampler cursor: expected [epoch, batch] with non-negative values, got {} value(s)",
        state.size());
  return SamplerCursor{state[0], state[1]};
}

DistributedSampler::DistributedSampler(int64_t num_samples, SamplerOptions options)
    : num_samples_(num_samples), options_(options) {
  if (num_samples <= 0)
    throw_user_error("sampler: the dataset (fold {}) has no samples", options.fold);
  if (options.world_size < 1 || options.rank < 0 || options.rank >= options.world_size)
    throw_internal_error("sampler: rank {} of world size {}", options.rank, options.world_size);
  if (options.batch_size < 1)
    throw_user_error("sampler: batch size {} must be positive", options.batch_size);
  per_rank_ = (num_samples + options.world_size - 1) / options.world_size;
}

int64_t DistributedSampler::batches_per_epoch() const {
  return (per_rank_ + options_.batch_size - 1) / options_.batch_size;
}

std::vector<int64_t> DistributedSampler::rank_order(int64_t epoch) const {
  std::vector<int64_t> permutation(static_cast<size_t>(num_samples_));
  std::iota(permutation.begin(), permutation.end(), 0);
  if (options_.shuffle) {
    std::mt19937_64 rng(mix_seed(mix_seed(options_.seed, static_cast<uint64_t>(epoch)),
                                 static_cast<uint64_t>(options_.fold) + 0x51ed27ULL));
    portable_shuffle(permutation, rng);
  }
  std::vector<int64_t> mine;
  mine.reserve(static_cast<size_t>(per_rank_));
  for (int64_t j = 0; j < per_rank_; ++j) {
    const int64_t global = options_.rank + j * options_.world_size;  // wraps past the end
    mine.push_back(permutation[static_cast<size_t>(global % num_samples_)]);
  }
  return mine;
}

std::vector<int64_t> DistributedSampler::batch(int64_t epoch, int64_t index) const {
  if (index < 0 || index >= batches_per_epoch())
    throw_internal_error("sampler: batch {} of an epoch with {} batches", index,
                         batches_per_epoch());
  if (cached_epoch_ != epoch) {
    cached_order_ = rank_order(epoch);
    cached_epoch_ = epoch;
  }
  const auto& order = cached_order_;
  const auto begin = order.begin() + index * options_.batch_size;
  const auto end = order.begin() + std::min<int64_t>((index + 1) * options_.batch_size, per_rank_);
  return {begin, end};
}

std::vector<int64_t> DistributedSampler::next() {
  if (cursor_.batch >= batches_per_epoch()) {
    cursor_ = SamplerCursor{cursor_.epoch + 1, 0};
    return {};
  }
  auto indices = batch(cursor_.epoch, cursor_.batch);
  ++cursor_.batch;
  return indices;
}

void DistributedSampler::restore(const SamplerCursor& cursor) {
  if (cursor.batch > batches_per_epoch())
    throw_user_error(
        "sampler cursor: batch {} is past the {} batches of an epoch (different data or "
        "world size?)",
        cursor.batch, batches_per_epoch());
  cursor_ = cursor;
}

}  // namespace tokenfocus::data
