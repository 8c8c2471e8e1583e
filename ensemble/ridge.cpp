#include "ensemble/ridge.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <fmt/format.h>

#include "common/error.h"

namespace tokenfocus::ensemble {

std::vector<double> LinearModel::predict(const FeatureMatrix& x) const {
  std::vector<double> out(x.rows, intercept);
  for (size_t r = 0; r < x.rows; ++r) {
    for (size_t c = 0; c < x.cols; ++c) out[r] += x.at(r, c) * weights[c];
  }
  return out;
}

std::vector<double> column_deviations(const FeatureMatrix& x, const std::vector<double>& mean) {
  std::vector<double> sd(x.cols, 0.0);
  for (size_t r = 0; r < x.rows; ++r)
    for (size_t c = 0; c < x.cols; ++c) sd[c] += (x.at(r, c) - mean[c]) * (x.at(r, c) - mean[c]);
  for (auto& s : sd) {
    s = std::sqrt(s / static_cast<double>(std::max<size_t>(x.rows, 1)));
    if (!(s > 1e-12)) s = 1.0;  // a constant column stays centred (all zeros), not blown up
  }
  return sd;
}

std::vector<double> solve_spd(std::vector<double> a, std::vector<double> b, size_t n) {
  for (size_t j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (size_t k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
    if (!(d > 0)) throw_internal_error("solve_spd: matrix not positive definite (pivot {})", j);
    d = std::sqrt(d);
    a[j * n + j] = d;
    for (size_t i = j + 1; i < n; ++i) {
      double s = a[i * n + j];
      for (size_t k = 0; k < j; ++k) s -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = s / d;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    double s = b[i];
    for (size_t k = 0; k < i; ++k) s -= a[i * n + k] * b[k];
    b[i] = s / a[i * n + i];
  }
  for (size_t i = n; i-- > 0;) {
    double s = b[i];
    for (size_t k = i + 1; k < n; ++k) s -= a[k * n + i] * b[k];
    b[i] = s / a[i * n + i];
  }
  return b;
}

RidgeSystem ridge_system(const FeatureMatrix& x, const std::vector<double>& y, bool standardise) {
  const size_t n = x.rows, p = x.cols;
  RidgeSystem sys;
  sys.p = p;
  sys.mean_x.assign(p, 0.0);
  sys.scale.assign(p, 1.0);
  sys.mean_y = std::accumulate(y.begin(), y.end(), 0.0) / static_cast<double>(n);
  for (size_t r = 0; r < n; ++r)
    for (size_t c = 0; c < p; ++c) sys.mean_x[c] += x.at(r, c);
  for (auto& m : sys.mean_x) m /= static_cast<double>(n);
  if (standardise) sys.scale = column_deviations(x, sys.mean_x);
  sys.gram.assign(p * p, 0.0);
  sys.rhs.assign(p, 0.0);
  std::vector<double> row(p);
  for (size_t r = 0; r < n; ++r) {
    for (size_t c = 0; c < p; ++c) row[c] = (x.at(r, c) - sys.mean_x[c]) / sys.scale[c];
    const double yc = y[r] - sys.mean_y;
    for (size_t i = 0; i < p; ++i) {
      sys.rhs[i] += row[i] * yc;
      double* g = &sys.gram[i * p];
      const double ri = row[i];
      for (size_t j = 0; j <= i; ++j) g[j] += ri * row[j];
    }
  }
  for (size_t i = 0; i < p; ++i)
    for (size_t j = 0; j < i; ++j) sys.gram[j * p + i] = sys.gram[i * p + j];
  return sys;
}

LinearModel solve_ridge(const RidgeSystem& sys, double alpha) {
  const size_t p = sys.p;
  std::vector<double> gram = sys.gram;
  for (size_t i = 0; i < p; ++i) {
    // A tiny jitter keeps exactly collinear features (two identical models, say) solvable at
    // alpha = 0; at any alpha used in practice it is far below double precision of the result.
    gram[i * p + i] += alpha + 1e-12 * (1.0 + sys.gram[i * p + i]);
  }
  LinearModel model;
  model.weights = solve_spd(gram, sys.rhs, p);
  for (size_t c = 0; c < p; ++c) model.weights[c] /= sys.scale[c];  // back to the original units
  model.intercept = sys.mean_y;
  for (size_t c = 0; c < p; ++c) model.intercept -= sys.mean_x[c] * model.weights[c];
  return model;
}

LinearModel fit_ridge(const FeatureMatrix& x, const std::vector<double>& y, double alpha) {
  return solve_ridge(ridge_system(x, y), alpha);
}

void RidgeStacker::fit(const FeatureMatrix& x, const std::vector<double>& y) {
  const auto folds = kfold_assignment(x.rows, options_.inner_folds, options_.seed);
  struct InnerFold {
    RidgeSystem system;
    FeatureMatrix held_x;
    std::vector<double> held_y;
  };
  std::vector<InnerFold> inner;
  for (int64_t f = 0; f < options_.inner_folds; ++f) {
    std::vector<size_t> train, held;
    for (size_t r = 0; r < x.rows; ++r) (folds[r] == f ? held : train).push_back(r);
    if (train.empty() || held.empty()) continue;
    InnerFold fold;
    std::vector<double> y_train;
    for (size_t r : train) y_train.push_back(y[r]);
    for (size_t r : held) fold.held_y.push_back(y[r]);
    fold.system = ridge_system(x.select_rows(train), y_train, /*standardise=*/true);
    fold.held_x = x.select_rows(held);
    inner.push_back(std::move(fold));
  }
  double best_error = std::numeric_limits<double>::infinity();
  for (int exponent = -4; exponent <= 4; ++exponent) {  // α ∈ {1, 3}·10^-4 … 10^4
    for (double mantissa : {1.0, 3.0}) {
      const double alpha = mantissa * std::pow(10.0, exponent);
      double error = 0;
      for (const auto& fold : inner) {
        const auto pred = solve_ridge(fold.system, alpha).predict(fold.held_x);
        for (size_t i = 0; i < pred.size(); ++i) error += std::pow(pred[i] - fold.held_y[i], 2);
      }
      if (error < best_error) {
        best_error = error;
        alpha_ = alpha;
      }
    }
  }
  model_ = solve_ridge(ridge_system(x, y, /*standardise=*/true), alpha_);
}

std::string RidgeStacker::describe() const {
  return fmt::format(
      "ridge on standardised features, alpha={:g} (inner {}-fold CV), intercept={:.4f}, "
      "weights=[{:.4f}] (original units)",
      alpha_, options_.inner_folds, model_.intercept, fmt::join(model_.weights, ", "));
}

}  // namespace tokenfocus::ensemble
