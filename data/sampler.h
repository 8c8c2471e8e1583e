// Distributed sampler: which samples each rank sees, in which order, batch by batch. The order is a
// pure function of (seed, epoch, fold, world size, rank), so a resumed or re-run job sees exactly
// the same batches (its permutations come from data/portable_random.h).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "data/portable_random.h"

namespace tokenfocus::data {

struct SamplerOptions {
  uint64_t seed = 0;
  int64_t fold = 0;
  int64_t world_size = 1;
  int64_t rank = 0;
  int64_t batch_size = 1;  // per rank
  bool shuffle = true;     // false: dataset order (evaluation)
};

// Where a sampler stands; serialised as two integers in checkpoints.
struct SamplerCursor {
  int64_t epoch = 0;
  int64_t batch = 0;  // next batch to hand out within the epoch
  std::vector<int64_t> to_ints() const { return {epoch, batch}; }
  static SamplerCursor from_ints(const std::vector<int64_t>& state);  // UserError when malformed
};

// Splits num_samples dataset positions over the ranks. Each epoch, the positions are permuted
// (seed, epoch, fold), padded by wrapping around to a multiple of world_size, and dealt
// round-robin: rank r gets permuted positions r, r + W, r + 2W, ... Every rank therefore holds
// ceil(num_samples / W) samples and the same number of batches (the last one may be shorter,
// equally on all ranks); at most W - 1 samples per epoch are seen twice.
class DistributedSampler {
 public:
  DistributedSampler(int64_t num_samples, SamplerOptions options);

  int64_t num_samples() const { return num_samples_; }
  int64_t samples_per_rank() const { return per_rank_; }
  int64_t batches_per_epoch() const;
  // The whole epoch's positions for this rank, in order.
  std::vector<int64_t> rank_order(int64_t epoch) const;
  // Batch `index` of `epoch` for this rank.
  std::vector<int64_t> batch(int64_t epoch, int64_t index) const;

  // Cursor-driven iteration: next() returns the batch at the cursor and advances it; at the end of
  // an epoch it returns an empty vector and moves the cursor to the next epoch.
  std::vector<int64_t> next();
  const SamplerCursor& cursor() const { return cursor_; }
  void restore(const SamplerCursor& cursor);

 private:
  int64_t num_samples_;
  SamplerOptions options_;
  int64_t per_rank_;
  SamplerCursor cursor_;
  // rank_order() of the last epoch asked for: batch() would otherwise re-permute per batch.
  mutable int64_t cached_epoch_ = -1;
  mutable std::vector<int64_t> cached_order_;
};

}  // namespace tokenfocus::data
