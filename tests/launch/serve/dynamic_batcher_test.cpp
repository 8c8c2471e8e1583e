// The batching policy of launch/serve/dynamic_batcher.h with plain values for items: batch sizes,
// the wait for company, admission, concurrent submitters, errors and draining.
#include "launch/serve/dynamic_batcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

namespace tokenfocus::launch::serve {
namespace {

using namespace std::chrono_literals;
using Batcher = DynamicBatcher<int, int>;

struct Recorder {
  std::mutex mutex;
  std::vector<std::vector<int>> batches;
  Batcher::Score score() {
    return [this](std::vector<int> items) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        batches.push_back(items);
      }
      for (int& x : items) x = x * 10;
      return items;
    };
  }
};

TEST(DynamicBatcher, TakesUpToMaxBatchOfWhatIsQueued) {
  Recorder r;
  BatcherOptions o;
  o.max_batch = 4;
  o.max_wait = 10s;  // a full batch must not wait for it
  o.max_queue = 100;
  Batcher b(r.score(), o);
  ASSERT_TRUE(b.reserve(10));
  std::vector<int> items;
  for (int i = 0; i < 10; ++i) items.push_back(i);
  auto futures = b.submit(items);
  // 4 + 4 go at once; the last 2 wait until stop() flushes them.
  for (int i = 0; i < 8; ++i) EXPECT_EQ(futures[static_cast<size_t>(i)].get(), i * 10);
  b.stop();
  for (int i = 8; i < 10; ++i) EXPECT_EQ(futures[static_cast<size_t>(i)].get(), i * 10);
  ASSERT_EQ(r.batches.size(), 3u);
  EXPECT_EQ(r.batches[0], (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(r.batches[1], (std::vector<int>{4, 5, 6, 7}));
  EXPECT_EQ(r.batches[2], (std::vector<int>{8, 9}));
  EXPECT_EQ(b.depth(), 0u);
}

TEST(DynamicBatcher, ALoneItemWaitsForCompanyAtMostMaxWait) {
  Recorder r;
  BatcherOptions o;
  o.max_batch = 8;
  o.max_wait = 60ms;
  Batcher b(r.score(), o);
  ASSERT_TRUE(b.reserve(1));
  const auto start = std::chrono::steady_clock::now();
  auto f = b.submit({7});
  EXPECT_EQ(f[0].get(), 70);
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, 55ms) << "scored before its deadline with room left in the batch";
  ASSERT_EQ(r.batches.size(), 1u);
}

TEST(DynamicBatcher, ItemsArrivingWithinTheWaitShareABatch) {
  Recorder r;
  BatcherOptions o;
  o.max_batch = 8;
  o.max_wait = 2s;
  Batcher b(r.score(), o);
  ASSERT_TRUE(b.reserve(3));
  auto a = b.submit({1});
  auto c = b.submit({2, 3});
  b.stop();  // flushes: all three were queued before the deadline
  EXPECT_EQ(a[0].get(), 10);
  EXPECT_EQ(c[1].get(), 30);
  ASSERT_EQ(r.batches.size(), 1u);
  EXPECT_EQ(r.batches[0], (std::vector<int>{1, 2, 3}));
}

TEST(DynamicBatcher, AdmissionIsBoundedByMaxQueue) {
  Recorder r;
  BatcherOptions o;
  o.max_queue = 5;
  Batcher b(r.score(), o);
  EXPECT_TRUE(b.reserve(3));
  EXPECT_FALSE(b.reserve(3));
  EXPECT_EQ(b.depth(), 3u);
  b.release(3);
  EXPECT_TRUE(b.reserve(5));
  EXPECT_FALSE(b.reserve(1));
  std::vector<int> items = {1, 2, 3, 4, 5};
  auto f = b.submit(items);
  for (auto& x : f) x.get();
  b.stop();
  EXPECT_EQ(b.depth(), 0u) << "scored items give their places back";
  EXPECT_TRUE(b.reserve(5));
}

TEST(DynamicBatcher, ConcurrentSubmittersEachGetTheirOwnResults) {
  Recorder r;
  BatcherOptions o;
  o.max_batch = 6;
  o.max_wait = 2ms;
  o.max_queue = 1000;
  Batcher b(r.score(), o);
  std::vector<std::thread> clients;
  std::atomic<int> wrong{0};
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      for (int request = 0; request < 25; ++request) {
        std::vector<int> items;
        for (int k = 0; k <= request % 4; ++k) items.push_back(c * 10000 + request * 10 + k);
        while (!b.reserve(items.size())) std::this_thread::yield();
        auto f = b.submit(items);
        for (size_t k = 0; k < items.size(); ++k)
          if (f[k].get() != items[k] * 10) ++wrong;
      }
    });
  }
  for (auto& t : clients) t.join();
  b.stop();
  EXPECT_EQ(wrong.load(), 0);
  std::multiset<int> seen;
  for (const auto& batch : r.batches) {
    EXPECT_LE(batch.size(), 6u);
    seen.insert(batch.begin(), batch.end());
  }
  size_t sent = 0;
  for (int request = 0; request < 25; ++request) sent += static_cast<size_t>(request % 4 + 1);
  EXPECT_EQ(seen.size(), 8 * sent);
  EXPECT_EQ(std::set<int>(seen.begin(), seen.end()).size(), seen.size()) << "an item scored twice";
}

TEST(DynamicBatcher, AScoringErrorReachesItsBatchAndTheBatcherGoesOn) {
  BatcherOptions o;
  o.max_batch = 2;
  o.max_wait = 1s;
  Batcher b(
      [](std::vector<int> items) -> std::vector<int> {
        for (int x : items)
          if (x < 0) throw std::runtime_error("negative");
        return items;
      },
      o);
  ASSERT_TRUE(b.reserve(4));
  auto bad = b.submit({1, -1});
  EXPECT_THROW(bad[0].get(), std::runtime_error);
  EXPECT_THROW(bad[1].get(), std::runtime_error);
  auto good = b.submit({2, 3});
  EXPECT_EQ(good[0].get(), 2);
  EXPECT_EQ(good[1].get(), 3);
  EXPECT_EQ(b.depth(), 0u);
}

}  // namespace
}  // namespace tokenfocus::launch::serve
