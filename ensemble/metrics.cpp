#include "ensemble/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>

#include "common/error.h"

namespace tokenfocus::ensemble {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_sizes(const std::vector<double>& x, const std::vector<double>& y, const char* what) {
  if (x.size() != y.size()) {
    throw_internal_error("{}: vectors of different lengths ({} vs {})", what, x.size(), y.size());
  }
}

// Counts pairs (i < j) with v[i] > v[j] while merge-sorting v (Knight's algorithm, step 2).
int64_t count_inversions(std::vector<double>& v, std::vector<double>& buffer, size_t lo,
                         size_t hi) {
  if (hi - lo < 2) return 0;
  const size_t mid = lo + (hi - lo) / 2;
  int64_t count = count_inversions(v, buffer, lo, mid) + count_inversions(v, buffer, mid, hi);
  size_t i = lo, j = mid, k = lo;
  while (i < mid && j < hi) {
    if (v[j] < v[i]) {
      count += static_cast<int64_t>(mid - i);
      buffer[k++] = v[j++];
    } else {
      buffer[k++] = v[i++];
    }
  }
  while (i < mid) buffer[k++] = v[i++];
  while (j < hi) buffer[k++] = v[j++];
  std::copy(buffer.begin() + lo, buffer.begin() + hi, v.begin() + lo);
  return count;
}

// Sum over runs of equal values of run·(run−1)/2 in an already sorted sequence.
template <class Equal>
int64_t tied_pairs(size_t n, Equal equal) {
  int64_t pairs = 0;
  size_t run = 1;
  for (size_t i = 1; i <= n; ++i) {
    if (i < n && equal(i - 1, i)) {
      ++run;
    } else {
      pairs += static_cast<int64_t>(run) * static_cast<int64_t>(run - 1) / 2;
      run = 1;
    }
  }
  return pairs;
}

}  // namespace

std::vector<double> average_ranks(const std::vector<double>& values) {
  const size_t n = values.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
  std::vector<double> ranks(n);
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && values[order[j]] == values[order[i]]) ++j;
    const double rank = 0.5 * static_cast<double>(i + j - 1) + 1.0;  // mean of i+1 .. j
    for (size_t k = i; k < j; ++k) ranks[order[k]] = rank;
    i = j;
  }
  return ranks;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  check_sizes(x, y, "pearson");
  const size_t n = x.size();
  if (n < 2) return kNaN;
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / static_cast<double>(n);
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / static_cast<double>(n);
  double sxx = 0, syy = 0, sxy = 0;
  for (size_t i = 0; i < n; ++i) {
    const double dx = x[i] - mx, dy = y[i] - my;
    sxx += dx * dx;
    syy += dy * dy;
    sxy += dx * dy;
  }
  if (sxx == 0 || syy == 0) return kNaN;  // scipy warns ConstantInputWarning and returns nan
  const double r = sxy / (std::sqrt(sxx) * std::sqrt(syy));
  return std::clamp(r, -1.0, 1.0);
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  check_sizes(x, y, "spearman");
  return pearson(average_ranks(x), average_ranks(y));
}

double kendall_tau_b(const std::vector<double>& x, const std::vector<double>& y) {
  check_sizes(x, y, "kendall_tau_b");
  const size_t n = x.size();
  if (n < 2) return kNaN;
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return x[a] < x[b] || (x[a] == x[b] && y[a] < y[b]); });
  const int64_t x_ties =
      tied_pairs(n, [&](size_t i, size_t j) { return x[order[i]] == x[order[j]]; });
  const int64_t joint_ties = tied_pairs(n, [&](size_t i, size_t j) {
    return x[order[i]] == x[order[j]] && y[order[i]] == y[order[j]];
  });
  std::vector<double> ys(n), buffer(n);
  for (size_t i = 0; i < n; ++i) ys[i] = y[order[i]];
  const int64_t discordant = count_inversions(ys, buffer, 0, n);  // ys is now sorted
  const int64_t y_ties = tied_pairs(n, [&](size_t i, size_t j) { return ys[i] == ys[j]; });
  const int64_t total = static_cast<int64_t>(n) * static_cast<int64_t>(n - 1) / 2;
  if (x_ties == total || y_ties == total) return kNaN;
  const double concordant_minus_discordant =
      static_cast<double>(total - x_ties - y_ties + joint_ties - 2 * discordant);
  return concordant_minus_discordant / std::sqrt(static_cast<double>(total - x_ties)) /
         std::sqrt(static_cast<double>(total - y_ties));
}

double rmse(const std::vector<double>& x, const std::vector<double>& y) {
  check_sizes(x, y, "rmse");
  if (x.empty()) return kNaN;
  double s = 0;
  for (size_t i = 0; i < x.size(); ++i) s += (x[i] - y[i]) * (x[i] - y[i]);
  return std::sqrt(s / static_cast<double>(x.size()));
}

PlccDirection parse_plcc_direction(const std::string& name) {
  if (name == "official") return PlccDirection::kOfficial;
  if (name == "conventional") return PlccDirection::kConventional;
  throw_user_error("plcc_direction '{}' is not one of: official, conventional", name);
}

const char* to_string(PlccDirection direction) {
  return direction == PlccDirection::kOfficial ? "official" : "conventional";
}

namespace {

// The curve maps `from` onto `to`; PLCC compares `to` with the curve's values.
struct FitDirection {
  const std::vector<double>& from;
  const std::vector<double>& to;
};
FitDirection fit_direction(const std::vector<double>& ground_truth,
                           const std::vector<double>& prediction, PlccDirection direction) {
  if (direction == PlccDirection::kOfficial) return {ground_truth, prediction};
  return {prediction, ground_truth};
}

}  // namespace

double plcc_after_logistic(const std::vector<double>& ground_truth,
                           const std::vector<double>& prediction, PlccDirection direction,
                           LogisticFit* fit_out) {
  check_sizes(ground_truth, prediction, "plcc");
  const auto [from, to] = fit_direction(ground_truth, prediction, direction);
  return plcc_after_logistic(ground_truth, prediction, direction, official_initial_params(from, to),
                             fit_out);
}

double plcc_after_logistic(const std::vector<double>& ground_truth,
                           const std::vector<double>& prediction, PlccDirection direction,
                           const LogisticParams& initial, LogisticFit* fit_out) {
  check_sizes(ground_truth, prediction, "plcc");
  const auto [from, to] = fit_direction(ground_truth, prediction, direction);
  // curve_fit refuses fewer points than its 4 parameters (the official script would stop there).
  if (from.size() < 4) return kNaN;
  const LogisticFit fit = fit_logistic4(from, to, initial);
  if (fit_out) *fit_out = fit;
  std::vector<double> fitted(from.size());
  for (size_t i = 0; i < from.size(); ++i) fitted[i] = logistic4(from[i], fit.params);
  for (double v : fitted)
    if (!std::isfinite(v)) return kNaN;
  return pearson(to, fitted);
}

double element_accuracy(const std::vector<double>& ground_truth,
                        const std::vector<double>& prediction) {
  check_sizes(ground_truth, prediction, "element_accuracy");
  if (ground_truth.empty()) return kNaN;
  size_t equal = 0;
  for (size_t i = 0; i < ground_truth.size(); ++i) {
    equal += (ground_truth[i] >= 0.5) == (prediction[i] >= 0.5);
  }
  return static_cast<double>(equal) / static_cast<double>(ground_truth.size());
}

Metrics compute_metrics(const std::vector<double>& score_gt, const std::vector<double>& score_pred,
                        const std::vector<double>& element_gt,
                        const std::vector<double>& element_pred, PlccDirection direction) {
  Metrics m;
  m.srcc = spearman(score_gt, score_pred);
  m.krcc = kendall_tau_b(score_gt, score_pred);
  LogisticFit fit;
  m.plcc = plcc_after_logistic(score_gt, score_pred, direction, &fit);
  m.logistic_converged = fit.converged;
  m.rmse = rmse(score_gt, score_pred);
  m.acc = element_accuracy(element_gt, element_pred);
  m.final = challenge_final(m.srcc, m.plcc, m.acc);
  return m;
}

}  // namespace tokenfocus::ensemble
