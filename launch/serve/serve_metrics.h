// What `GET /metrics` reports, in Prometheus' text format (version 0.0.4): requests by route and
// status, items scored, batches and their sizes, the queue depth and request latency. Counters
// and histograms are cumulative from start-up; every method is thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace tokenfocus::launch::serve {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  // Appends the _bucket / _sum / _count lines of `name` with extra labels `labels` ("" or
  // `route="/v1/score"`).
  void write(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; last = +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

class ServeMetrics {
 public:
  void request_done(const std::string& route, int status, double seconds);
  void batch_done(size_t items);
  // `queue_depth`: the batcher's, read when the text is made (a copy kept here would go stale
  // when a request thread and the batching thread update it in the other order).
  std::string prometheus_text(size_t queue_depth) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  Histogram batch_sizes_{{1, 2, 4, 8, 16, 32, 64, 128}};
  uint64_t items_ = 0, batches_ = 0;
};

}  // namespace tokenfocus::launch::serve
