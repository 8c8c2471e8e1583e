// Loader: plan order whatever the thread timing, bounded prefetch, early stop without hanging,
// worker exceptions re-thrown in the consumer.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "common/error.h"
#include "data/loader.h"

namespace tokenfocus::data {
namespace {

// A batch whose keys are the requested indices, built after a pseudo-random delay so that workers
// finish out of order.
Batch slow_batch(const std::vector<int64_t>& indices) {
  std::mt19937_64 rng(static_cast<uint64_t>(indices.front()) * 7919);
  std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
  Batch b;
  for (auto i : indices) {
    b.sample_keys.push_back("img" + std::to_string(i));
    b.sample_records.push_back(i);
  }
  return b;
}

std::vector<std::vector<int64_t>> plan_of(int64_t batches) {
  std::vector<std::vector<int64_t>> plan;
  for (int64_t i = 0; i < batches; ++i) plan.push_back({3 * i, 3 * i + 1, 3 * i + 2});
  return plan;
}

TEST(Loader, PlanOrderWithSeveralWorkers) {
  for (int64_t workers : {0, 1, 3, 8}) {
    BatchLoader loader(slow_batch, plan_of(40), workers, 4);
    int64_t i = 0;
    while (auto batch = loader.next()) {
      ASSERT_EQ(batch->sample_records, (std::vector<int64_t>{3 * i, 3 * i + 1, 3 * i + 2}))
          << workers;
      ++i;
    }
    EXPECT_EQ(i, 40);
    EXPECT_FALSE(loader.next()) << "stays exhausted";
  }
}

TEST(Loader, PrefetchIsBounded) {
  std::atomic<int64_t> started{0};
  std::atomic<int64_t> consumed{0};
  std::atomic<int64_t> worst{0};
  auto build = [&](const std::vector<int64_t>& indices) {
    const int64_t ahead = ++started - consumed.load();
    int64_t w = worst.load();
    while (ahead > w && !worst.compare_exchange_weak(w, ahead)) {
    }
    return slow_batch(indices);
  };
  BatchLoader loader(build, plan_of(30), 4, 3);
  while (auto batch = loader.next()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a slow consumer
    ++consumed;
  }
  // A job starts only while fewer than `prefetch` batches are ahead of the consumer (the one being
  // handed over counts until the consumer bumps its counter, hence +1).
  EXPECT_LE(worst.load(), 3 + 1);
}

TEST(Loader, StoppingEarlyDoesNotHang) {
  const auto start = std::chrono::steady_clock::now();
  {
    BatchLoader loader(slow_batch, plan_of(1000), 4, 8);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(loader.next());
  }  // destructor joins the workers
  {
    BatchLoader untouched(slow_batch, plan_of(1000), 4, 8);  // never consumed
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(Loader, WorkerErrorsReachTheConsumer) {
  auto build = [](const std::vector<int64_t>& indices) {
    if (indices.front() == 15) throw UserError("record 15 (img_path \"m/15.png\"): cannot decode");
    return slow_batch(indices);
  };
  BatchLoader loader(build, plan_of(10), 3, 4);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(loader.next());
  try {
    loader.next();
    FAIL() << "batch 5 holds record 15";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("record 15 (img_path \"m/15.png\")"), std::string::npos);
  }
  EXPECT_THROW(loader.next(), UserError) << "a failed plan keeps failing instead of hanging";
}

TEST(Loader, PlanFollowsTheSampler) {
  SamplerOptions options;
  options.seed = 4;
  options.world_size = 2;
  options.rank = 1;
  options.batch_size = 3;
  DistributedSampler sampler(10, options);
  const std::vector<int64_t> dataset{100, 101, 102, 103, 104, 105, 106, 107, 108, 109};
  const auto plan = plan_epoch(sampler, 2, 0, dataset);
  ASSERT_EQ(static_cast<int64_t>(plan.size()), sampler.batches_per_epoch());
  for (size_t b = 0; b < plan.size(); ++b) {
    const auto positions = sampler.batch(2, static_cast<int64_t>(b));
    for (size_t j = 0; j < positions.size(); ++j) EXPECT_EQ(plan[b][j], 100 + positions[j]);
  }
  EXPECT_EQ(plan_epoch(sampler, 2, 1, dataset).size(), plan.size() - 1)
      << "resume skips consumed batches";
}

}  // namespace
}  // namespace tokenfocus::data
