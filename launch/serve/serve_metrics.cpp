#include "launch/serve/serve_metrics.h"

#include <fmt/format.h>

namespace tokenfocus::launch::serve {
namespace {

const std::vector<double> kLatencyBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                            0.5,   1,    2.5,   5,    10};

std::string with(const std::string& labels, const std::string& more) {
  if (labels.empty()) return more;
  return labels + "," + more;
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  size_t b = 0;
  while (b < bounds_.size() && value > bounds_[b]) ++b;
  ++counts_[b];
  sum_ += value;
  ++count_;
}

void Histogram::write(std::string& out, const std::string& name, const std::string& labels) const {
  uint64_t cumulative = 0;
  for (size_t b = 0; b <= bounds_.size(); ++b) {
    cumulative += counts_[b];
    const std::string le = b < bounds_.size() ? fmt::format("{}", bounds_[b]) : "+Inf";
    out += fmt::format("{}_bucket{{{}}} {}\n", name, with(labels, "le=\"" + le + "\""), cumulative);
  }
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, braces, sum_, name, braces, count_);
}

void ServeMetrics::request_done(const std::string& route, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{route, status}];
  latency_.try_emplace(route, kLatencyBounds).first->second.observe(seconds);
}

void ServeMetrics::batch_done(size_t items) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++batches_;
  items_ += items;
  batch_sizes_.observe(static_cast<double>(items));
}

std::string ServeMetrics::prometheus_text(size_t queue_depth) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  out += "# HELP tokenfocus_serve_requests_total HTTP requests answered, by route and status.\n";
  out += "# TYPE tokenfocus_serve_requests_total counter\n";
  for (const auto& [key, n] : requests_)
    out += fmt::format("tokenfocus_serve_requests_total{{route=\"{}\",code=\"{}\"}} {}\n",
                       key.first, key.second, n);
  out += "# HELP tokenfocus_serve_items_total Images scored.\n";
  out += "# TYPE tokenfocus_serve_items_total counter\n";
  out += fmt::format("tokenfocus_serve_items_total {}\n", items_);
  out += "# HELP tokenfocus_serve_batches_total Forward batches run.\n";
  out += "# TYPE tokenfocus_serve_batches_total counter\n";
  out += fmt::format("tokenfocus_serve_batches_total {}\n", batches_);
  out += "# HELP tokenfocus_serve_batch_size Items per forward batch.\n";
  out += "# TYPE tokenfocus_serve_batch_size histogram\n";
  batch_sizes_.write(out, "tokenfocus_serve_batch_size", "");
  out += "# HELP tokenfocus_serve_queue_depth Items admitted and not yet scored.\n";
  out += "# TYPE tokenfocus_serve_queue_depth gauge\n";
  out += fmt::format("tokenfocus_serve_queue_depth {}\n", queue_depth);
  out += "# HELP tokenfocus_serve_request_duration_seconds Time from request to response.\n";
  out += "# TYPE tokenfocus_serve_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_)
    h.write(out, "tokenfocus_serve_request_duration_seconds", "route=\"" + route + "\"");
  return out;
}

}  // namespace tokenfocus::launch::serve
