// Distributed sampler: a pure function of (seed, epoch, fold, world size, rank); ranks disjoint
// except for the documented wrap-around padding; equal batch counts; resumable cursor.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "common/error.h"
#include "data/sampler.h"

namespace tokenfocus::data {
namespace {

SamplerOptions options(int64_t world, int64_t rank, int64_t batch, uint64_t seed = 5,
                       int64_t fold = 0) {
  SamplerOptions o;
  o.seed = seed;
  o.fold = fold;
  o.world_size = world;
  o.rank = rank;
  o.batch_size = batch;
  return o;
}

TEST(Sampler, ThreeRanksAreDisjointAndCoverEverySample) {
  for (int64_t n : {30, 31, 32, 100, 2}) {
    std::map<int64_t, int> seen;
    int64_t batches = -1;
    for (int64_t rank = 0; rank < 3; ++rank) {
      DistributedSampler sampler(n, options(3, rank, 4));
      if (batches < 0) batches = sampler.batches_per_epoch();
      EXPECT_EQ(sampler.batches_per_epoch(), batches) << "ranks must step equally";
      for (int64_t b = 0; b < sampler.batches_per_epoch(); ++b)
        for (int64_t i : sampler.batch(0, b)) ++seen[i];
    }
    EXPECT_EQ(static_cast<int64_t>(seen.size()), n) << "every sample seen";
    int64_t extra = 0;
    for (const auto& [i, count] : seen) extra += count - 1;
    // Padding by wrap-around: ceil(n/3)*3 - n duplicates, no more.
    EXPECT_EQ(extra, (n + 2) / 3 * 3 - n) << "n=" << n;
  }
}

TEST(Sampler, PureFunctionOfSeedEpochFold) {
  DistributedSampler a(50, options(2, 1, 8, 9, 2)), b(50, options(2, 1, 8, 9, 2));
  EXPECT_EQ(a.rank_order(3), b.rank_order(3));
  EXPECT_NE(a.rank_order(3), a.rank_order(4)) << "epoch changes the order";
  DistributedSampler other_fold(50, options(2, 1, 8, 9, 3)),
      other_seed(50, options(2, 1, 8, 10, 2));
  EXPECT_NE(a.rank_order(3), other_fold.rank_order(3));
  EXPECT_NE(a.rank_order(3), other_seed.rank_order(3));
}

TEST(Sampler, PinnedOrderIsPortable) {
  DistributedSampler s(10, options(1, 0, 10, 123, 0));
  const std::vector<int64_t> expected = {4, 2, 5, 9, 8, 6, 0, 7, 3, 1};
  EXPECT_EQ(s.rank_order(0), expected);
}

// The order is reproducible outside C++: an independent Python model of std::mt19937_64 and our
// shuffle (tests/data/folds/reference_sampler.py) gives the same orders.
TEST(Sampler, MatchesIndependentPythonModel) {
  const std::vector<std::vector<uint64_t>> specs{
      {10, 123, 0, 0, 1, 0}, {1000, 7, 3, 2, 3, 1}, {37, 18446744073709551557ULL, 9, 4, 4, 3}};
  std::string command =
      std::string(TOKENFOCUS_REFERENCE_PYTHON) + " tests/data/folds/reference_sampler.py";
  for (const auto& s : specs)
    command += fmt::format(" {},{},{},{},{},{}", s[0], s[1], s[2], s[3], s[4], s[5]);
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  while (fgets(buffer, sizeof buffer, pipe)) output += buffer;
  ASSERT_EQ(pclose(pipe), 0) << output;
  std::istringstream lines(output);
  for (const auto& s : specs) {
    std::string line;
    ASSERT_TRUE(std::getline(lines, line));
    std::istringstream values(line);
    std::vector<int64_t> expected;
    for (int64_t v; values >> v;) expected.push_back(v);
    SamplerOptions o = options(static_cast<int64_t>(s[4]), static_cast<int64_t>(s[5]), 1, s[1],
                               static_cast<int64_t>(s[3]));
    EXPECT_EQ(
        DistributedSampler(static_cast<int64_t>(s[0]), o).rank_order(static_cast<int64_t>(s[2])),
        expected)
        << line;
  }
}

TEST(Sampler, UnshuffledKeepsDatasetOrder) {
  auto o = options(2, 0, 3);
  o.shuffle = false;
  DistributedSampler s(7, o);
  EXPECT_EQ(s.rank_order(0), (std::vector<int64_t>{0, 2, 4, 6}));
  o.rank = 1;
  EXPECT_EQ(DistributedSampler(7, o).rank_order(0), (std::vector<int64_t>{1, 3, 5, 0}));
}

TEST(Sampler, CursorResumesExactly) {
  DistributedSampler full(23, options(2, 0, 3));
  std::vector<std::vector<int64_t>> straight;
  for (int i = 0; i < 12; ++i) straight.push_back(full.next());
  // Stop after 5 calls, serialise, restore into a fresh sampler, continue.
  DistributedSampler first(23, options(2, 0, 3));
  std::vector<std::vector<int64_t>> resumed;
  for (int i = 0; i < 5; ++i) resumed.push_back(first.next());
  const auto state = first.cursor().to_ints();
  DistributedSampler second(23, options(2, 0, 3));
  second.restore(SamplerCursor::from_ints(state));
  for (int i = 5; i < 12; ++i) resumed.push_back(second.next());
  EXPECT_EQ(straight, resumed);
  // Epoch boundary: 12 samples per rank, 4 batches, then an empty marker.
  EXPECT_EQ(full.batches_per_epoch(), 4);
  EXPECT_TRUE(straight[4].empty());
  EXPECT_EQ(full.cursor().epoch, 2);
  EXPECT_THROW(SamplerCursor::from_ints({1}), UserError);
  EXPECT_THROW(second.restore(SamplerCursor{0, 99}), UserError);
}

TEST(Sampler, PortableHelpers) {
  std::mt19937_64 rng(1);
  std::vector<int> counts(3, 0);
  for (int i = 0; i < 30000; ++i) ++counts[uniform_below(rng, 3)];
  for (int c : counts) EXPECT_NEAR(c, 10000, 400);
  std::vector<int> v{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  portable_shuffle(v, rng);
  std::vector<int> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_THROW(DistributedSampler(0, options(1, 0, 1)), UserError);
}

}  // namespace
}  // namespace tokenfocus::data
