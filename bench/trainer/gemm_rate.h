// The reference the trainer benchmarks report model FLOP/s against: the rate of a 1024² float32
// matmul repeated for `seconds` on this process's threads (after one warm-up product).
#pragma once

#include <chrono>

#include <torch/torch.h>

namespace tokenfocus::bench {

inline double sgemm_1024_gflops(double seconds) {
  using Clock = std::chrono::steady_clock;
  const torch::Tensor a = torch::randn({1024, 1024}), b = torch::randn({1024, 1024});
  torch::mm(a, b);
  const auto start = Clock::now();
  int reps = 0;
  double elapsed = 0;
  do {
    torch::mm(a, b);
    ++reps;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < seconds);
  return 2.0 * 1024 * 1024 * 1024 * reps / elapsed / 1e9;
}

}  // namespace tokenfocus::bench
