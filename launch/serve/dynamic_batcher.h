// Dynamic batching for the scoring service: request threads admit their items (bounded queue),
// queue them, and wait on futures; one batching thread takes up to `max_batch` queued items —
// as soon as that many are waiting, or when the oldest has waited `max_wait` — and scores them in
// one call. Items of concurrent requests share forwards; a burst larger than the queue is refused
// at admission (the server's 503) instead of growing memory without bound.
//
// Phases, each testable alone: reserve (admission) → submit (queue) → the thread's take (batch
// formation) → score → fulfil. Template over the item and result types so the policy is tested
// without a model (tests/launch/serve/dynamic_batcher_test.cpp).
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace tokenfocus::launch::serve {

struct BatcherOptions {
  size_t max_batch = 16;                     // items per scoring call
  std::chrono::microseconds max_wait{5000};  // how long the oldest item may wait for company
  size_t max_queue = 256;                    // items admitted and not yet scored
};

template <class Item, class Result>
class DynamicBatcher {
 public:
  using Score = std::function<std::vector<Result>(std::vector<Item>)>;
  // Called on the batching thread after each scoring call, with its size.
  using OnBatch = std::function<void(size_t batch)>;

  DynamicBatcher(Score score, BatcherOptions options, OnBatch on_batch = {})
      : score_(std::move(score)), options_(options), on_batch_(std::move(on_batch)) {
    if (options_.max_batch == 0) options_.max_batch = 1;
    thread_ = std::thread([this] { run(); });
  }
  DynamicBatcher(const DynamicBatcher&) = delete;
  DynamicBatcher& operator=(const DynamicBatcher&) = delete;
  ~DynamicBatcher() { stop(); }

  // Admission: reserves room for `n` items, or false when that would exceed max_queue.
  bool reserve(size_t n) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (depth_ + n > options_.max_queue) return false;
    depth_ += n;
    return true;
  }
  // Gives back a reservation that will not be submitted (the request failed while decoding).
  void release(size_t n) {
    std::lock_guard<std::mutex> lock(mutex_);
    depth_ -= std::min(n, depth_);
  }

  // Queues reserved items; each future holds its result, or the exception the scoring call of its
  // batch threw.
  std::vector<std::future<Result>> submit(std::vector<Item> items) {
    std::vector<std::future<Result>> futures;
    futures.reserve(items.size());
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto now = std::chrono::steady_clock::now();
      for (auto& item : items) {
        queue_.push_back(Pending{std::move(item), std::promise<Result>(), now});
        futures.push_back(queue_.back().promise.get_future());
      }
    }
    ready_.notify_one();
    return futures;
  }

  // Items admitted and not yet scored.
  size_t depth() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return depth_;
  }

  // Scores everything already queued, then ends the thread. Idempotent.
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

 private:
  struct Pending {
    Item item;
    std::promise<Result> promise;
    std::chrono::steady_clock::time_point queued;
  };

  // The next batch: waits for a first item, then for max_batch items or the oldest's deadline.
  // Empty only when stopping with nothing queued.
  std::vector<Pending> take() {
    std::unique_lock<std::mutex> lock(mutex_);
    ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return {};
    const auto deadline = queue_.front().queued + options_.max_wait;
    ready_.wait_until(lock, deadline,
                      [&] { return stopping_ || queue_.size() >= options_.max_batch; });
    const size_t n = std::min(options_.max_batch, queue_.size());
    std::vector<Pending> batch;
    batch.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    return batch;
  }

  void run() {
    for (;;) {
      std::vector<Pending> batch = take();
      if (batch.empty()) return;
      std::vector<Item> items;
      items.reserve(batch.size());
      for (auto& p : batch) items.push_back(std::move(p.item));
      std::vector<Result> results;
      std::exception_ptr error;
      try {
        results = score_(std::move(items));
        if (results.size() != batch.size())
          throw std::logic_error("scoring returned a result count unlike its batch's");
      } catch (...) {
        error = std::current_exception();
      }
      // Places are given back before the results are handed out, so a caller that has its
      // results sees the queue without them.
      {
        std::lock_guard<std::mutex> lock(mutex_);
        depth_ -= std::min(batch.size(), depth_);
      }
      for (size_t i = 0; i < batch.size(); ++i) {
        if (error)
          batch[i].promise.set_exception(error);
        else
          batch[i].promise.set_value(std::move(results[i]));
      }
      if (on_batch_) on_batch_(batch.size());
    }
  }

  Score score_;
  BatcherOptions options_;
  OnBatch on_batch_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Pending> queue_;
  size_t depth_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tokenfocus::launch::serve
