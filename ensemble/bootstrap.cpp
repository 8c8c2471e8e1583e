#include "ensemble/bootstrap.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <limits>
#include <random>
#include <thread>

#include "data/portable_random.h"

namespace tokenfocus::ensemble {
namespace {

constexpr int kMetrics = 6;  // srcc, plcc, krcc, rmse, acc, final

// Percentile with linear interpolation between order statistics (numpy's default), NaNs dropped.
double percentile(std::vector<double> values, double q) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return std::isnan(v); }),
               values.end());
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(values.begin(), values.end());
  const double position = q * static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(position));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (position - static_cast<double>(lo)) * (values[hi] - values[lo]);
}

Interval make_interval(double point, const std::vector<double>& draws, double confidence) {
  const double tail = (1.0 - confidence) / 2.0;
  return {point, percentile(draws, tail), percentile(draws, 1.0 - tail)};
}

}  // namespace

std::vector<uint32_t> bootstrap_draw(size_t n, uint64_t seed, int64_t draw) {
  // SplitMix-style mixing gives every draw an independent, reproducible stream.
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL +
                      static_cast<uint64_t>(draw) * 0xBF58476D1CE4E5B9ULL + 0x94D049BB133111EBULL);
  std::vector<uint32_t> indices(n);
  for (auto& i : indices) i = static_cast<uint32_t>(data::uniform_below(rng, n));
  return indices;
}

namespace {

// values[m][metric][draw]: every metric of every prediction on every bootstrap draw.
using DrawValues = std::vector<std::vector<std::vector<double>>>;

DrawValues draw_values(const EvaluationSet& truth,
                       const std::vector<AlignedPrediction>& predictions,
                       const BootstrapOptions& options) {
  const size_t n = truth.size(), models = predictions.size();
  const int64_t draws = options.samples;
  // Per record: number of elements and, per model, how many of them it gets right; accuracy of a
  // draw is then a ratio of sums without touching the elements again.
  std::vector<double> element_count(n);
  std::vector<std::vector<double>> correct(models, std::vector<double>(n));
  for (size_t i = 0; i < n; ++i) {
    element_count[i] = static_cast<double>(truth.element_offsets[i + 1] - truth.element_offsets[i]);
    for (size_t m = 0; m < models; ++m) {
      double c = 0;
      for (size_t e = truth.element_offsets[i]; e < truth.element_offsets[i + 1]; ++e) {
        c += (truth.element[e] >= 0.5) == (predictions[m].element[e] >= 0.5);
      }
      correct[m][i] = c;
    }
  }
  DrawValues values(models, std::vector<std::vector<double>>(kMetrics, std::vector<double>(draws)));
  std::atomic<int64_t> next{0};
  auto worker = [&] {
    std::vector<double> gt(n), pred(n);
    for (int64_t d; (d = next.fetch_add(1)) < draws;) {
      const auto idx = bootstrap_draw(n, options.seed, d);
      double elements = 0;
      for (uint32_t i : idx) elements += element_count[i];
      for (size_t i = 0; i < n; ++i) gt[i] = truth.score[idx[i]];
      const auto gt_ranks = average_ranks(gt);  // shared by every model of this draw
      for (size_t m = 0; m < models; ++m) {
        double right = 0;
        for (size_t i = 0; i < n; ++i) {
          pred[i] = predictions[m].score[idx[i]];
          right += correct[m][idx[i]];
        }
        const double srcc = pearson(gt_ranks, average_ranks(pred));  // = spearman(gt, pred)
        const double plcc = plcc_after_logistic(gt, pred, options.direction);
        const double acc =
            elements > 0 ? right / elements : std::numeric_limits<double>::quiet_NaN();
        auto& v = values[m];
        v[0][d] = srcc;
        v[1][d] = plcc;
        v[2][d] = kendall_tau_b(gt, pred);
        v[3][d] = rmse(gt, pred);
        v[4][d] = acc;
        v[5][d] = challenge_final(srcc, plcc, acc);
      }
    }
  };
  unsigned threads = options.threads ? options.threads : std::thread::hardware_concurrency();
  threads =
      std::max(1u, std::min<unsigned>(threads, static_cast<unsigned>(std::max<int64_t>(draws, 1))));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  return values;
}

std::array<double, kMetrics> point_values(const EvaluationSet& truth,
                                          const AlignedPrediction& prediction,
                                          PlccDirection direction) {
  const Metrics m = evaluate(truth, prediction, direction);
  return {m.srcc, m.plcc, m.krcc, m.rmse, m.acc, m.final};
}

std::array<Interval*, kMetrics> slots_of(MetricIntervals& out) {
  return {&out.srcc, &out.plcc, &out.krcc, &out.rmse, &out.acc, &out.final};
}

}  // namespace

std::vector<MetricIntervals> bootstrap_metrics(const EvaluationSet& truth,
                                               const std::vector<AlignedPrediction>& predictions,
                                               const BootstrapOptions& options) {
  const DrawValues values = draw_values(truth, predictions, options);
  std::vector<MetricIntervals> out(predictions.size());
  for (size_t m = 0; m < predictions.size(); ++m) {
    const auto points = point_values(truth, predictions[m], options.direction);
    const auto slots = slots_of(out[m]);
    for (int k = 0; k < kMetrics; ++k)
      *slots[k] = make_interval(points[k], values[m][k], options.confidence);
  }
  return out;
}

MetricIntervals paired_differences(const EvaluationSet& truth, const AlignedPrediction& baseline,
                                   const AlignedPrediction& other,
                                   const BootstrapOptions& options) {
  const DrawValues values = draw_values(truth, {baseline, other}, options);
  const auto base = point_values(truth, baseline, options.direction);
  const auto changed = point_values(truth, other, options.direction);
  MetricIntervals out;
  const auto slots = slots_of(out);
  for (int k = 0; k < kMetrics; ++k) {
    std::vector<double> difference(values[0][k].size());
    for (size_t d = 0; d < difference.size(); ++d)
      difference[d] = values[1][k][d] - values[0][k][d];
    *slots[k] = make_interval(changed[k] - base[k], difference, options.confidence);
  }
  return out;
}

}  // namespace tokenfocus::ensemble
