#include "trainer/cpu_threads.h"

#include <dlfcn.h>
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
  torch::set_num_threads(threads);
  // OpenBLAS (Debian's libtorch calls BLAS through it) keeps a thread pool of its own, sized at
  // load time from the cores it may run on, which torch::set_num_threads does not resize. Its
  // threads spin while they wait, so 2 ranks × 2 pools on 2 cores halved the demo's speed. Looked
  // up at run time: a build against another BLAS simply has no such symbol.
  using SetThreads = void (*)(int);
  if (auto set_openblas =
          reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set_openblas(threads);
  log::debug("{} CPU thread(s) per rank ({})", threads, source);
  return threads;
}

}  // namespace tokenfocus::trainer
