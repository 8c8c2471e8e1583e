// `distributed:` — communicator backend, gradient buckets, collective timeout, ZeRO stage.
#pragma once

#include <cstdint>
#include <string>

#include "common/config/check.h"

namespace tokenfocus::config {

struct DistributedConfig {
  std::string backend = "auto";  // auto = NCCL on CUDA tensors, MPI otherwise
  double bucket_mb = 25.0;
  double timeout_seconds = 60.0;  // a collective that waits longer names the missing rank
  // CPU threads of each rank's tensor maths: 0 = the node's cores shared out among its ranks
  // (more threads than cores makes every rank wait on the others' spinning threads).
  int64_t threads_per_rank = 0;
  // 1 = ZeRO stage 1: AdamW's state sharded over the ranks (docs/training.md); 0 = DDP.
  int64_t zero = 0;
  template <class V>
  void describe(V& v) {
    v("backend", backend, one_of({"auto", "mpi", "nccl"}));
    v("bucket_mb", bucket_mb, positive());
    v("timeout_seconds", timeout_seconds, positive());
    v("threads_per_rank", threads_per_rank, at_least(0));
    v("zero", zero, in_range(0, 1));
  }
};

}  // namespace tokenfocus::config
