#include "ensemble/blending.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <random>

#include "data/portable_random.h"

namespace tokenfocus::ensemble {
namespace {

std::vector<double> softmax(const std::vector<double>& logits) {
  const double top = *std::max_element(logits.begin(), logits.end());
  std::vector<double> w(logits.size());
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) sum += w[i] = std::exp(logits[i] - top);
  for (auto& v : w) v /= sum;
  return w;
}

// Nelder–Mead (standard coefficients) minimising f from x0 with initial step `step`.
std::vector<double> nelder_mead(const std::function<double(const std::vector<double>&)>& f,
                                std::vector<double> x0, double step, int budget, int& used) {
  const size_t n = x0.size();
  std::vector<std::vector<double>> simplex(n + 1, x0);
  std::vector<double> values(n + 1);
  for (size_t i = 0; i < n; ++i) simplex[i + 1][i] += step;
  for (size_t i = 0; i <= n; ++i) values[i] = f(simplex[i]);
  used += static_cast<int>(n + 1);
  std::vector<size_t> order(n + 1);
  while (used < budget) {
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return values[a] < values[b]; });
    const size_t best = order.front(), worst = order.back(), second = order[n - 1];
    if (std::fabs(values[worst] - values[best]) < 1e-10) break;
    std::vector<double> centroid(n, 0.0);
    for (size_t i = 0; i <= n; ++i)
      if (i != worst)
        for (size_t d = 0; d < n; ++d) centroid[d] += simplex[i][d] / static_cast<double>(n);
    auto along = [&](double t) {
      std::vector<double> p(n);
      for (size_t d = 0; d < n; ++d) p[d] = centroid[d] + t * (simplex[worst][d] - centroid[d]);
      return p;
    };
    auto reflected = along(-1.0);
    const double fr = f(reflected);
    ++used;
    if (fr < values[best]) {
      auto expanded = along(-2.0);
      const double fe = f(expanded);
      ++used;
      if (fe < fr) {
        simplex[worst] = expanded, values[worst] = fe;
      } else {
        simplex[worst] = reflected, values[worst] = fr;
      }
    } else if (fr < values[second]) {
      simplex[worst] = reflected, values[worst] = fr;
    } else {
      auto contracted = fr < values[worst] ? along(-0.5) : along(0.5);
      const double fc = f(contracted);
      ++used;
      if (fc < std::min(fr, values[worst])) {
        simplex[worst] = contracted, values[worst] = fc;
      } else {  // shrink towards the best vertex
        for (size_t i = 0; i <= n; ++i) {
          if (i == best) continue;
          for (size_t d = 0; d < n; ++d)
            simplex[i][d] = simplex[best][d] + 0.5 * (simplex[i][d] - simplex[best][d]);
          values[i] = f(simplex[i]);
          ++used;
        }
      }
    }
  }
  const size_t best =
      static_cast<size_t>(std::min_element(values.begin(), values.end()) - values.begin());
  return simplex[best];
}

}  // namespace

std::vector<double> convex_combination(const std::vector<std::vector<double>>& candidates,
                                       const std::vector<double>& weights) {
  std::vector<double> out(candidates.front().size(), 0.0);
  for (size_t j = 0; j < candidates.size(); ++j) {
    if (weights[j] == 0) continue;
    for (size_t i = 0; i < out.size(); ++i) out[i] += weights[j] * candidates[j][i];
  }
  return out;
}

SimplexOptimum maximise_over_simplex(
    size_t k, const std::function<double(const std::vector<double>&)>& objective,
    const SimplexSearchOptions& options) {
  SimplexOptimum best;
  best.objective = -std::numeric_limits<double>::infinity();
  auto consider = [&](const std::vector<double>& w) {
    const double value = objective(w);
    ++best.evaluations;
    if (value > best.objective) {
      best.objective = value;
      best.weights = w;
    }
    return value;
  };
  if (k == 1) {
    consider({1.0});
    return best;
  }
  // Every vertex is a candidate on its own: a blend is reported only if it beats them.
  for (size_t j = 0; j < k; ++j) {
    std::vector<double> w(k, 0.0);
    w[j] = 1.0;
    consider(w);
  }
  std::mt19937_64 rng(options.seed ^ 0xD1B54A32D192ED03ULL);
  const int budget = options.max_evaluations_per_start ? options.max_evaluations_per_start
                                                       : 150 + 40 * static_cast<int>(k);
  for (int64_t s = 0; s < options.starts; ++s) {
    std::vector<double> start(k, 0.0);                               // start 0: uniform weights
    if (s >= 1 && s <= static_cast<int64_t>(k)) start[s - 1] = 2.0;  // leaning on one candidate
    if (s > static_cast<int64_t>(k))
      for (auto& v : start) v = data::standard_normal(rng);
    int used = 0;
    const auto logits =
        nelder_mead([&](const std::vector<double>& z) { return -consider(softmax(z)); }, start, 1.0,
                    budget, used);
    consider(softmax(logits));
  }
  return best;
}

SimplexOptimum blend_scores(const std::vector<std::vector<double>>& candidates,
                            const std::vector<double>& truth, const std::vector<size_t>& rows,
                            PlccDirection direction, const SimplexSearchOptions& options) {
  std::vector<double> gt(rows.size()), pred(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) gt[i] = truth[rows[i]];
  // Each evaluation's logistic fit starts where the last converged one ended: neighbouring
  // weights give neighbouring curves, and from the official start every fit took hundreds of
  // evaluations (the blend search was most of the demo's ensemble stage).
  std::optional<LogisticParams> warm;
  return maximise_over_simplex(
      candidates.size(),
      [&](const std::vector<double>& w) {
        for (size_t i = 0; i < rows.size(); ++i) {
          double v = 0;
          for (size_t j = 0; j < candidates.size(); ++j) v += w[j] * candidates[j][rows[i]];
          pred[i] = v;
        }
        LogisticFit fit;
        double plcc = std::numeric_limits<double>::quiet_NaN();
        if (warm) plcc = plcc_after_logistic(gt, pred, direction, *warm, &fit);
        if (!fit.converged)
          plcc = plcc_after_logistic(gt, pred, direction, &fit);  // official start
        if (fit.converged) warm = fit.params;
        const double value = 0.25 * spearman(gt, pred) + 0.25 * plcc;
        return std::isnan(value) ? -1.0 : value;
      },
      options);
}

SimplexOptimum blend_elements(const std::vector<std::vector<double>>& candidates,
                              const std::vector<double>& truth, const std::vector<size_t>& rows,
                              const SimplexSearchOptions& options) {
  return maximise_over_simplex(
      candidates.size(),
      [&](const std::vector<double>& w) {
        size_t right = 0;
        double squared = 0;
        for (size_t r : rows) {
          double v = 0;
          for (size_t j = 0; j < candidates.size(); ++j) v += w[j] * candidates[j][r];
          right += (v >= 0.5) == (truth[r] >= 0.5);
          squared += (v - truth[r]) * (v - truth[r]);
        }
        const double n = static_cast<double>(std::max<size_t>(rows.size(), 1));
        return static_cast<double>(right) / n - 1e-3 * squared / n;
      },
      options);
}

}  // namespace tokenfocus::ensemble
