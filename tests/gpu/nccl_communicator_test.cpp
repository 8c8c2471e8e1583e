// The NCCL communicator on one real GPU, one rank (an MPI singleton bootstraps it as mpirun would):
// collectives on CUDA tensors return what a one-rank job must (the input), and a collective waits
// for the work queued on torch's *current* stream, whichever stream the caller made current
// (trainer/nccl_communicator.cpp orders its own stream after it with an event).
#include <ATen/cuda/Sleep.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "gpu_support.h"
#include "trainer/communicator.h"

namespace tokenfocus::trainer {
namespace {

Communicator& nccl() {
  static const std::unique_ptr<Communicator> comm = make_communicator({"nccl", 60.0});
  return *comm;
}

TEST(GpuNccl, OneRankCollectivesReturnTheInput) {
  TOKENFOCUS_REQUIRE_CUDA();
  Communicator& comm = nccl();
  ASSERT_EQ(comm.backend(), "nccl");
  ASSERT_EQ(comm.world_size(), 1);
  ASSERT_TRUE(comm.device().is_cuda());
  // 64 MiB of float32, and the other dtypes the trainer reduces (integers are only summed).
  for (const auto dtype : {torch::kFloat, torch::kBFloat16, torch::kLong}) {
    const torch::Tensor input =
        (torch::randn({16 << 20}, torch::kFloat) * 100).to(comm.device(), dtype);
    torch::Tensor t = input.clone();
    comm.all_reduce(t, ReduceOp::kSum);
    EXPECT_TRUE(torch::equal(t, input)) << "sum " << c10::toString(dtype);
    if (dtype != torch::kLong) {
      t = input.clone();
      comm.all_reduce(t, ReduceOp::kAverage);
      EXPECT_TRUE(torch::equal(t, input)) << "average " << c10::toString(dtype);
    }
    t = input.clone();
    comm.broadcast(t, 0);
    EXPECT_TRUE(torch::equal(t, input)) << "broadcast " << c10::toString(dtype);
  }
  const torch::Tensor rows = torch::arange(15, torch::kFloat).view({3, 5}).to(comm.device());
  EXPECT_TRUE(torch::equal(comm.all_gather_rows(rows), rows));
  EXPECT_TRUE(comm.any(true));
  EXPECT_FALSE(comm.any(false));
  comm.barrier();
}

TEST(GpuNccl, AllReduceWaitsForTheCurrentStream) {
  TOKENFOCUS_REQUIRE_CUDA();
  Communicator& comm = nccl();
  const c10::DeviceIndex device = comm.device().index();
  // Warm-up: NCCL's first collective and the sleep kernel's first launch set themselves up on the
  // host, which must not eat into the window measured below.
  torch::Tensor t = torch::zeros({1 << 20}, torch::dtype(torch::kFloat).device(comm.device()));
  comm.all_reduce(t, ReduceOp::kSum);
  at::cuda::sleep(1000);
  torch::cuda::synchronize();

  const c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device);
  const c10::cuda::CUDAStreamGuard guard(side);
  // About 2 s of spinning on `side` (4e9 cycles at the H200's ~2 GHz), then the values to reduce,
  // written on `side` right before the collective.
  at::cuda::sleep(4'000'000'000LL);
  t.fill_(3.0);
  const auto start = std::chrono::steady_clock::now();
  auto work = comm.all_reduce_async(t, ReduceOp::kSum);
  // Unordered, a one-rank all-reduce would be done within microseconds; ordered after `side`, it
  // cannot finish before the spin does.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(work->test())
      << "the all-reduce finished while the current stream's queued work had not: the NCCL stream "
         "is not ordered after torch's current stream";
  work->wait();
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "[gpu-nccl] the all-reduce completed %.2f s after it was started (behind ~2 s of work "
      "on the current, non-default stream)\n",
      waited);
  // Read on `side` (still current): the reduced values are the ones written there.
  EXPECT_TRUE(torch::all(t == 3.0).item<bool>()) << "reduced " << t.slice(0, 0, 4);
}

}  // namespace
}  // namespace tokenfocus::trainer
