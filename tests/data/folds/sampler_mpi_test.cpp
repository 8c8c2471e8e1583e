// Three real ranks: each builds its own sampler, the batches are gathered on rank 0, which checks
// equal batch counts, disjointness (up to the documented wrap-around padding) and full coverage,
// and that each rank's order equals what a single process computes for that rank.
#include <mpi.h>

#include <cstdio>
#include <map>
#include <vector>

#include "data/sampler.h"

using tokenfocus::data::DistributedSampler;
using tokenfocus::data::SamplerOptions;

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, world = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  int failures = 0;
  auto check = [&](bool ok, const char* what, long n) {
    if (!ok) {
      std::fprintf(stderr, "rank %d: FAILED %s (n=%ld)\n", rank, what, n);
      ++failures;
    }
  };
  for (long n : {3L, 10L, 101L, 1000L}) {
    SamplerOptions options;
    options.seed = 77;
    options.fold = 1;
    options.world_size = world;
    options.rank = rank;
    options.batch_size = 4;
    DistributedSampler sampler(n, options);
    for (int64_t epoch = 0; epoch < 2; ++epoch) {
      std::vector<int64_t> mine;
      for (int64_t b = 0; b < sampler.batches_per_epoch(); ++b)
        for (int64_t i : sampler.batch(epoch, b)) mine.push_back(i);
      long count = static_cast<long>(mine.size());
      long max_count = 0, min_count = 0;
      MPI_Allreduce(&count, &max_count, 1, MPI_LONG, MPI_MAX, MPI_COMM_WORLD);
      MPI_Allreduce(&count, &min_count, 1, MPI_LONG, MPI_MIN, MPI_COMM_WORLD);
      check(max_count == min_count, "equal sample counts on all ranks", n);
      std::vector<int64_t> all(static_cast<size_t>(count * world));
      MPI_Gather(mine.data(), static_cast<int>(count), MPI_INT64_T, all.data(),
                 static_cast<int>(count), MPI_INT64_T, 0, MPI_COMM_WORLD);
      if (rank == 0) {
        std::map<int64_t, int> seen;
        for (auto i : all) ++seen[i];
        check(static_cast<long>(seen.size()) == n, "every sample seen", n);
        long duplicates = 0;
        for (const auto& [i, c] : seen) duplicates += c - 1;
        check(duplicates == (n + world - 1) / world * world - n, "only wrap-around duplicates", n);
        // Each rank's part equals what one process computes for that rank (pure function).
        for (int r = 0; r < world; ++r) {
          SamplerOptions o = options;
          o.rank = r;
          const auto expected = DistributedSampler(n, o).rank_order(epoch);
          check(std::vector<int64_t>(all.begin() + r * count, all.begin() + (r + 1) * count) ==
                    expected,
                "rank order equals the single-process computation", n);
        }
      }
    }
  }
  int total = 0;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0) std::printf("sampler over %d ranks: %s\n", world, total == 0 ? "OK" : "FAILED");
  MPI_Finalize();
  return total == 0 ? 0 : 1;
}
