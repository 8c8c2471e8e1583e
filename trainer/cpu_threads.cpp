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
  // OpenBLAS (Debian's libtorch calls BLAS through it) keeps a pthread pool of its own, sized at
  // load time from the cores it may run on, which torch::set_num_threads does not resize. Both
  // pools spin while they wait, so running both at N threads puts 2N busy threads on N cores:
  // measured on 2 cores (bench_trainer_vlm, 1 rank), torch 2 + OpenBLAS 2 threads trained the tiny
  // model at 56 samples/s and the mid-size one at 7.4; torch 1 + OpenBLAS 2 at 236 and 17.5 (torch
  // 2 + OpenBLAS 1: 244 and 11.4). So with OpenBLAS the threads go to the matrix products and
  // torch's element-wise kernels run on the calling thread. Looked up at run time: a libtorch on
  // another BLAS (MKL, whose threads are torch's OpenMP pool) has no such symbol and keeps N.
  using SetThreads = void (*)(int);
  if (auto set_openblas =
          reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    set_openblas(threads);
    torch::set_num_threads(1);
  } else {
    torch::set_num_threads(threads);
  }
  log::debug("{} CPU thread(s) per rank ({})", threads, source);
  return threads;
}

}  // namespace tokenfocus::trainer
