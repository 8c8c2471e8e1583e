#include "trainer/cpu_threads.h"

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "common/log.h"
#include "trainer/communicator.h"

namespace tokenfocus::trainer {

int configure_cpu_threads(const Communicator& comm, int64_t configured) {
  int threads = 0;
  const char* source = "distributed.threads_per_rank";
  if (configured > 0) {
    threads = static_cast<int>(configured);
  } else if (const char* env = std::getenv("OMP_NUM_THREADS"); env && std::atoi(env) > 0) {
    threads = std::atoi(env);
    source = "OMP_NUM_THREADS";
  } else {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads = std::max(1, cores / std::max(1, comm.local_size()));
    source = "cores / ranks on this node";
  }
  // The PyTorch wheel's libtorch runs its matrix products on MKL inside torch's own OpenMP
  // intra-op pool, so one setting sizes both (with Debian's libtorch 1.13, OpenBLAS kept a second
  // pool that had to be sized apart).
  torch::set_num_threads(threads);
  log::debug("{} CPU thread(s) per rank ({})", threads, source);
  return threads;
}

}  // namespace tokenfocus::trainer
