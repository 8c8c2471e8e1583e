// Background batch loading: worker threads decode, process and build the batches of a plan ahead
// of the trainer, at most `prefetch` batches ahead, and hand them out in plan order whatever the
// threads' timing. Stopping early (destruction) never hangs; an exception thrown while building a
// batch is re-thrown by next() in the consumer, with its message (which names the record).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "data/batch.h"
#include "data/sampler.h"

namespace tokenfocus::data {

class BatchLoader {
 public:
  // Builds the batch of the given record indices; called from worker threads concurrently.
  using BuildFn = std::function<Batch(const std::vector<int64_t>& record_indices)>;

  // plan[i] = the record indices of batch i. workers = 0 builds in the consumer's thread.
  BatchLoader(BuildFn build, std::vector<std::vector<int64_t>> plan, int64_t workers,
              int64_t prefetch);
  ~BatchLoader();  // stops the workers (finishing at most the batches they are building) and joins
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // The next batch in plan order; nullopt after the last one. Re-throws a worker's exception.
  std::optional<Batch> next();
  int64_t size() const { return static_cast<int64_t>(plan_.size()); }

 private:
  void work();
  struct Slot {
    std::optional<Batch> batch;
    std::exception_ptr error;
  };

  BuildFn build_;
  std::vector<std::vector<int64_t>> plan_;
  int64_t prefetch_;
  std::mutex mutex_;
  std::condition_variable ready_;  // a result arrived (consumer waits)
  std::condition_variable room_;   // a batch was consumed or stop requested (workers wait)
  std::map<int64_t, Slot> results_;
  int64_t next_job_ = 0;
  int64_t consumed_ = 0;
  bool stopping_ = false;
  std::exception_ptr failure_;  // set once a batch failed: next() keeps re-throwing it
  std::vector<std::thread> threads_;
};

// The plan of one epoch for one rank: the sampler's batches from `first_batch` on (resume), its
// dataset positions mapped through `dataset` (e.g. a fold's training record indices).
std::vector<std::vector<int64_t>> plan_epoch(const DistributedSampler& sampler, int64_t epoch,
                                             int64_t first_batch,
                                             const std::vector<int64_t>& dataset);

}  // namespace tokenfocus::data
