// ZeRO-1's partition of the flat parameter space (the planner; ZeroAdamW executes it). The flat
// space is the gradient reducer's buckets laid end to end, each padded with zeros to a multiple of
// the world size, so that one reduce-scatter per bucket hands rank r block r of that bucket and one
// all-gather per bucket puts the blocks back. Rank r's shard is its block of every bucket: 1/N of
// the elements, plus at most N - 1 padding elements per bucket. A block may start or end inside a
// parameter; the pieces say which parameter elements it holds, so that per-parameter properties
// (the weight-decay group) apply element by element.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tokenfocus::trainer {

// Parameter elements [parameter_offset, parameter_offset + numel) of `parameter` sit at
// [shard_offset, shard_offset + numel) of the rank's block of one bucket.
struct ShardPiece {
  size_t parameter = 0;
  int64_t parameter_offset = 0;
  int64_t shard_offset = 0;
  int64_t numel = 0;
};

struct BucketShard {
  int64_t numel = 0;               // the bucket's parameter elements
  int64_t padded_numel = 0;        // numel rounded up to a multiple of the world size
  int64_t block_numel = 0;         // padded_numel / world size: every rank's block
  int64_t block_begin = 0;         // where this rank's block starts in the bucket
  std::vector<ShardPiece> pieces;  // in bucket order; only real elements, never padding
};

struct ZeroShardLayout {
  int world_size = 1;
  int rank = 0;
  std::vector<BucketShard> buckets;
  int64_t shard_numel() const;  // this rank's elements over all buckets, padding included
};

// The bucket's size rounded up to a multiple of the world size (what the reducer allocates).
int64_t padded_bucket_numel(int64_t numel, int world_size);

// `bucket_parameters`: per bucket, parameter indices in bucket order (GradientReducer::Bucket);
// `parameter_numels`: elements of each parameter by index.
ZeroShardLayout plan_zero_shards(const std::vector<std::vector<size_t>>& bucket_parameters,
                                 const std::vector<int64_t>& parameter_numels, int world_size,
                                 int rank);

}  // namespace tokenfocus::trainer
