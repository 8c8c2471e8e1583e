#include "ensemble/nnls.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <fmt/format.h>

namespace tokenfocus::ensemble {
namespace {

// Least squares restricted to the passive columns, via the normal equations AᵀA (small: one
// column per feature).
std::vector<double> passive_solution(const std::vector<double>& gram,
                                     const std::vector<double>& atb,
                                     const std::vector<bool>& passive, size_t n) {
  std::vector<size_t> cols;
  for (size_t j = 0; j < n; ++j)
    if (passive[j]) cols.push_back(j);
  const size_t k = cols.size();
  std::vector<double> sub(k * k), rhs(k);
  for (size_t i = 0; i < k; ++i) {
    rhs[i] = atb[cols[i]];
    for (size_t j = 0; j < k; ++j) sub[i * k + j] = gram[cols[i] * n + cols[j]];
    sub[i * k + i] *= 1.0 + 1e-13;  // guards exactly collinear passive columns
  }
  const auto solved = solve_spd(sub, rhs, k);
  std::vector<double> z(n, 0.0);
  for (size_t i = 0; i < k; ++i) z[cols[i]] = solved[i];
  return z;
}

}  // namespace

std::vector<double> nnls(const FeatureMatrix& a, const std::vector<double>& b) {
  const size_t m = a.rows, n = a.cols;
  std::vector<double> gram(n * n, 0.0), atb(n, 0.0);
  double max_column_l1 = 0;
  for (size_t j = 0; j < n; ++j) {
    double l1 = 0;
    for (size_t r = 0; r < m; ++r) l1 += std::fabs(a.at(r, j));
    max_column_l1 = std::max(max_column_l1, l1);
  }
  for (size_t r = 0; r < m; ++r) {
    for (size_t i = 0; i < n; ++i) {
      atb[i] += a.at(r, i) * b[r];
      for (size_t j = 0; j <= i; ++j) gram[i * n + j] += a.at(r, i) * a.at(r, j);
    }
  }
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < i; ++j) gram[j * n + i] = gram[i * n + j];
  // scipy's tolerance: 10 · eps · ||A||₁ · max(m, n).
  const double tol = 10 * std::numeric_limits<double>::epsilon() * max_column_l1 *
                     static_cast<double>(std::max(m, n));
  std::vector<double> x(n, 0.0);
  std::vector<bool> passive(n, false);
  auto gradient = [&] {  // w = Aᵀ(b − Ax)
    std::vector<double> w(atb);
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < n; ++j) w[i] -= gram[i * n + j] * x[j];
    return w;
  };
  for (size_t outer = 0; outer < 3 * n + 10; ++outer) {
    const auto w = gradient();
    size_t best = n;
    for (size_t j = 0; j < n; ++j) {
      if (!passive[j] && w[j] > tol && (best == n || w[j] > w[best])) best = j;
    }
    if (best == n) break;  // KKT conditions hold
    passive[best] = true;
    auto z = passive_solution(gram, atb, passive, n);
    for (size_t inner = 0; inner < 3 * n + 10; ++inner) {
      double step = 1.0;
      bool feasible = true;
      for (size_t j = 0; j < n; ++j) {
        if (passive[j] && z[j] <= 0) {
          feasible = false;
          step = std::min(step, x[j] / (x[j] - z[j]));
        }
      }
      if (feasible) break;
      for (size_t j = 0; j < n; ++j) {
        x[j] += step * (z[j] - x[j]);
        if (passive[j] && std::fabs(x[j]) <= tol) {
          passive[j] = false;
          x[j] = 0;
        }
      }
      z = passive_solution(gram, atb, passive, n);
    }
    x = z;
  }
  return x;
}

void NnlsStacker::fit(const FeatureMatrix& x, const std::vector<double>& y) {
  const size_t n = x.rows, p = x.cols;
  std::vector<double> mean_x(p, 0.0);
  const double mean_y = std::accumulate(y.begin(), y.end(), 0.0) / static_cast<double>(n);
  for (size_t r = 0; r < n; ++r)
    for (size_t c = 0; c < p; ++c) mean_x[c] += x.at(r, c) / static_cast<double>(n);
  // Standardised columns: x >= 0 is unchanged by positive scaling, so this is the same problem,
  // only better conditioned; the weights are mapped back to the original units.
  const std::vector<double> scale = column_deviations(x, mean_x);
  FeatureMatrix centred = x;
  std::vector<double> yc(n);
  for (size_t r = 0; r < n; ++r) {
    yc[r] = y[r] - mean_y;
    for (size_t c = 0; c < p; ++c)
      centred.values[r * p + c] = (centred.values[r * p + c] - mean_x[c]) / scale[c];
  }
  model_.weights = nnls(centred, yc);
  for (size_t c = 0; c < p; ++c) model_.weights[c] /= scale[c];
  model_.intercept = mean_y;
  for (size_t c = 0; c < p; ++c) model_.intercept -= mean_x[c] * model_.weights[c];
}

std::string NnlsStacker::describe() const {
  return fmt::format("nnls intercept={:.4f}, weights=[{:.4f}]", model_.intercept,
                     fmt::join(model_.weights, ", "));
}

}  // namespace tokenfocus::ensemble
