// All-reduce bus bandwidth of the trainer's path against raw MPI_Allreduce on the same buffers.
//   mpirun -np 2 bench_trainer_allreduce [max_mib=256]
// For each size (1 KiB .. max, x4): raw MPI_Allreduce(MPI_IN_PLACE) on a float32 buffer, then the
// GradientReducer over one parameter of that size (25 MiB buckets, asynchronous all-reduce per
// bucket, deadline polling, averaging), i.e. what one training step pays for its gradients.
// busbw = algbw * 2(n-1)/n with algbw = bytes / time (the nccl-tests convention).
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "trainer/communicator.h"
#include "trainer/gradient_reducer.h"

using namespace tokenfocus::trainer;
using Clock = std::chrono::steady_clock;

namespace {

// Seconds per call of fn, median-free: total time of enough repetitions for ~0.3 s (at least 3).
template <class F>
double time_per_call(F&& fn, int world_rank) {
  fn();  // warm-up
  int iterations = 0;
  double elapsed = 0;
  int target = 3;
  for (;;) {
    MPI_Barrier(MPI_COMM_WORLD);
    const auto start = Clock::now();
    for (int i = 0; i < target; ++i) fn();
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    iterations = target;
    // Every rank must agree on whether to repeat: rank 0 decides.
    int again = elapsed < 0.3 && target < 4096;
    MPI_Bcast(&again, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (!again) break;
    target *= 4;
  }
  (void)world_rank;
  double slowest = elapsed / iterations;
  MPI_Allreduce(MPI_IN_PLACE, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return slowest;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t max_mib = argc > 1 ? std::atoll(argv[1]) : 256;
  auto comm = make_communicator({"mpi", 600.0});
  const int n = comm->world_size();
  const double bus_factor = n > 1 ? 2.0 * (n - 1) / n : 1.0;
  if (comm->rank() == 0) {
    std::printf("all-reduce, %d ranks, float32, in place; busbw = algbw * 2(n-1)/n\n", n);
    std::printf("%12s %12s %14s %12s %12s %14s %8s\n", "bytes", "mpi_us", "mpi_busbw_GB/s",
                "iallred_us", "ours_us", "ours_busbw_GB/s", "ratio");
  }
  for (int64_t bytes = 1024; bytes <= max_mib * 1024 * 1024; bytes *= 4) {
    const int64_t count = bytes / 4;
    auto raw = torch::ones({count});
    const double t_mpi = time_per_call(
        [&] {
          MPI_Allreduce(MPI_IN_PLACE, raw.data_ptr(), static_cast<int>(count), MPI_FLOAT, MPI_SUM,
                        MPI_COMM_WORLD);
        },
        comm->rank());

    // Non-blocking MPI (what any deadline-checked path must use) with a plain MPI_Wait: separates
    // the cost of Open MPI's non-blocking algorithms from the cost of our polling.
    const double t_nonblocking = time_per_call(
        [&] {
          MPI_Request request;
          MPI_Iallreduce(MPI_IN_PLACE, raw.data_ptr(), static_cast<int>(count), MPI_FLOAT, MPI_SUM,
                         MPI_COMM_WORLD, &request);
          MPI_Wait(&request, MPI_STATUS_IGNORE);
        },
        comm->rank());

    auto parameter = torch::zeros({count}).set_requires_grad(true);
    GradientReducer reducer(*comm, {{"p", parameter}}, 25.0, "bench");
    reducer.zero_grad();
    const double t_ours = time_per_call(
        [&] {
          reducer.set_sync(true);
          reducer.finish_backward();  // no backward ran: every bucket launches here, in order
        },
        comm->rank());
    if (comm->rank() == 0) {
      const double mpi_bw = bytes / t_mpi * bus_factor / 1e9,
                   ours_bw = bytes / t_ours * bus_factor / 1e9;
      std::printf("%12lld %12.1f %14.3f %12.1f %12.1f %14.3f %8.3f\n",
                  static_cast<long long>(bytes), t_mpi * 1e6, mpi_bw, t_nonblocking * 1e6,
                  t_ours * 1e6, ours_bw, ours_bw / mpi_bw);
      std::fflush(stdout);
    }
  }
  return 0;
}
