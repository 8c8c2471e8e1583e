#include "trainer/zero_shard_layout.h"

#include <algorithm>

#include "common/error.h"

namespace tokenfocus::trainer {

int64_t ZeroShardLayout::shard_numel() const {
  int64_t total = 0;
  for (const auto& bucket : buckets) total += bucket.block_numel;
  return total;
}

int64_t padded_bucket_numel(int64_t numel, int world_size) {
  return (numel + world_size - 1) / world_size * world_size;
}

ZeroShardLayout plan_zero_shards(const std::vector<std::vector<size_t>>& bucket_parameters,
                                 const std::vector<int64_t>& parameter_numels, int world_size,
                                 int rank) {
  if (world_size < 1 || rank < 0 || rank >= world_size)
    throw_internal_error("plan_zero_shards: rank {} of {}", rank, world_size);
  ZeroShardLayout layout;
  layout.world_size = world_size;
  layout.rank = rank;
  for (const auto& parameters : bucket_parameters) {
    BucketShard bucket;
    for (size_t k : parameters) bucket.numel += parameter_numels.at(k);
    bucket.padded_numel = padded_bucket_numel(bucket.numel, world_size);
    bucket.block_numel = bucket.padded_numel / world_size;
    bucket.block_begin = rank * bucket.block_numel;
    const int64_t block_end = bucket.block_begin + bucket.block_numel;
    // Intersect each parameter's span of the bucket with this rank's block.
    int64_t offset = 0;
    for (size_t k : parameters) {
      const int64_t begin = std::max(offset, bucket.block_begin);
      const int64_t end = std::min(offset + parameter_numels.at(k), block_end);
      if (begin < end)
        bucket.pieces.push_back({k, begin - offset, begin - bucket.block_begin, end - begin});
      offset += parameter_numels.at(k);
    }
    layout.buckets.push_back(std::move(bucket));
  }
  return layout;
}

}  // namespace tokenfocus::trainer
