// `distributed:` — communicator backend, gradient buckets, collective timeout.
#pragma once

#include <string>

#include "common/config/check.h"

namespace tokenfocus::config {

struct DistributedConfig {
  std::string backend = "auto";  // auto = NCCL on CUDA tensors, MPI otherwise
  double bucket_mb = 25.0;
  double timeout_seconds = 60.0;  // a collective that waits longer names the missing rank
  template <class V>
  void describe(V& v) {
    v("backend", backend, one_of({"auto", "mpi", "nccl"}));
    v("bucket_mb", bucket_mb, positive());
    v("timeout_seconds", timeout_seconds, positive());
  }
};

}  // namespace tokenfocus::config
