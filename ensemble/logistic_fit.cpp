#include "ensemble/logistic_fit.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tokenfocus::ensemble {
namespace {

constexpr int kP = 4;
using Vec = std::array<double, kP>;
using Mat = std::array<std::array<double, kP>, kP>;

// scipy.optimize.leastsq defaults used by curve_fit.
constexpr double kFtol = 1.49012e-8;
constexpr double kXtol = 1.49012e-8;
constexpr double kFactor = 100.0;
constexpr double kEps = std::numeric_limits<double>::epsilon();

double norm(const Vec& v) {
  double s = 0;
  for (double e : v) s += e * e;
  return std::sqrt(s);
}

// Residuals r_i = f(x_i) - y_i and their sum of squares.
double residuals(const std::vector<double>& x, const std::vector<double>& y,
                 const LogisticParams& b, std::vector<double>& r) {
  double s = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    r[i] = logistic4(x[i], b) - y[i];
    s += r[i] * r[i];
  }
  return s;
}

// Normal equations of the Jacobian: A = JᵀJ, g = Jᵀr, and the column norms of J. J is taken by
// forward differences exactly as MINPACK's lmdif does for curve_fit (step sqrt(eps)·|b_j|), so
// both fits walk the same path and stop at the same point — an analytic Jacobian converges to the
// same optimum but may stop a hair away from where scipy stops.
void normal_equations(const std::vector<double>& x, const std::vector<double>& y,
                      const std::vector<double>& r, const LogisticParams& b, Mat& a, Vec& g,
                      Vec& column_norms) {
  for (auto& row : a) row.fill(0);
  g.fill(0);
  column_norms.fill(0);
  const double root_eps = std::sqrt(kEps);
  Vec h;
  std::array<LogisticParams, kP> shifted;
  for (int p = 0; p < kP; ++p) {
    h[p] = root_eps * std::fabs(b[p]);
    if (h[p] == 0) h[p] = root_eps;
    shifted[p] = b;
    shifted[p][p] += h[p];
  }
  for (size_t i = 0; i < x.size(); ++i) {
    Vec j;
    for (int p = 0; p < kP; ++p) j[p] = ((logistic4(x[i], shifted[p]) - y[i]) - r[i]) / h[p];
    for (int p = 0; p < kP; ++p) {
      g[p] += j[p] * r[i];
      for (int q = 0; q <= p; ++q) a[p][q] += j[p] * j[q];
    }
  }
  for (int p = 0; p < kP; ++p) {
    for (int q = 0; q < p; ++q) a[q][p] = a[p][q];
    column_norms[p] = std::sqrt(a[p][p]);
  }
}

// Solves (A + lambda·D²) s = rhs by Cholesky; false when the matrix is not positive definite.
bool solve_damped(const Mat& a, const Vec& d, double lambda, const Vec& rhs, Vec& s) {
  Mat l{};
  for (int i = 0; i < kP; ++i) {
    for (int j = 0; j <= i; ++j) {
      double sum = a[i][j] + (i == j ? lambda * d[i] * d[i] : 0.0);
      for (int k = 0; k < j; ++k) sum -= l[i][k] * l[j][k];
      if (i == j) {
        if (!(sum > 0) || !std::isfinite(sum)) return false;
        l[i][i] = std::sqrt(sum);
      } else {
        l[i][j] = sum / l[j][j];
      }
    }
  }
  Vec t{};
  for (int i = 0; i < kP; ++i) {
    double sum = rhs[i];
    for (int k = 0; k < i; ++k) sum -= l[i][k] * t[k];
    t[i] = sum / l[i][i];
  }
  for (int i = kP - 1; i >= 0; --i) {
    double sum = t[i];
    for (int k = i + 1; k < kP; ++k) sum -= l[k][i] * s[k];
    s[i] = sum / l[i][i];
  }
  return true;
}

// Step p = -(A + λD²)⁻¹ g with λ chosen so that ||D p|| ≈ delta (Moré's lmpar, solved through the
// normal equations: the problem has only four unknowns).
Vec trust_region_step(const Mat& a, const Vec& g, const Vec& d, double delta, double& lambda) {
  Vec minus_g;
  for (int p = 0; p < kP; ++p) minus_g[p] = -g[p];
  auto scaled_norm = [&](const Vec& s) {
    Vec ds;
    for (int p = 0; p < kP; ++p) ds[p] = d[p] * s[p];
    return norm(ds);
  };
  // phi'(λ) = -(D²p)ᵀ(A+λD²)⁻¹(D²p) / ||Dp||.
  auto phi_derivative = [&](const Vec& step, double lam, double dnorm, double& out) {
    Vec d2p, w{};
    for (int p = 0; p < kP; ++p) d2p[p] = d[p] * d[p] * step[p];
    if (!solve_damped(a, d, lam, d2p, w)) return false;
    double dot = 0;
    for (int p = 0; p < kP; ++p) dot += d2p[p] * w[p];
    out = -dot / dnorm;
    return true;
  };

  Vec step{};
  const bool full_rank = solve_damped(a, d, 0.0, minus_g, step);
  double dnorm = full_rank ? scaled_norm(step) : std::numeric_limits<double>::infinity();
  double phi = dnorm - delta;
  if (full_rank && phi <= 0.1 * delta) {  // the Gauss–Newton step fits the trust region
    lambda = 0;
    return step;
  }
  double lower = 0;
  if (full_rank) {
    double derivative = 0;
    if (phi_derivative(step, 0.0, dnorm, derivative) && derivative < 0) lower = -phi / derivative;
  }
  Vec scaled_gradient;
  for (int p = 0; p < kP; ++p) scaled_gradient[p] = g[p] / d[p];
  const double gnorm = norm(scaled_gradient);
  double upper = gnorm / delta;
  if (upper == 0) upper = std::numeric_limits<double>::min() / std::min(delta, 0.1);
  lambda = std::clamp(lambda, lower, upper);
  if (lambda == 0) lambda = gnorm / dnorm;
  if (!(lambda > 0) || !std::isfinite(lambda)) lambda = upper;
  for (int iteration = 0; iteration < 10; ++iteration) {
    if (lambda == 0) lambda = std::max(std::numeric_limits<double>::min(), 0.001 * upper);
    if (!solve_damped(a, d, lambda, minus_g, step)) {
      lower = lambda;
      lambda = std::max(10 * lambda, std::sqrt(lower * upper));
      continue;
    }
    dnorm = scaled_norm(step);
    const double previous_phi = phi;
    phi = dnorm - delta;
    if (std::fabs(phi) <= 0.1 * delta || (lower == 0 && phi <= previous_phi && previous_phi < 0)) {
      break;
    }
    double derivative = 0;
    if (!phi_derivative(step, lambda, dnorm, derivative) || derivative == 0) break;
    const double correction = -((phi + delta) / delta) * (phi / derivative);
    if (phi > 0) lower = std::max(lower, lambda);
    if (phi < 0) upper = std::min(upper, lambda);
    lambda = std::max(lower, lambda + correction);
  }
  return step;
}

}  // namespace

double logistic4(double x, const LogisticParams& b) {
  return b[1] + (b[0] - b[1]) / (1.0 + std::exp(-(x - b[2]) / std::fabs(b[3])));
}

LogisticParams official_initial_params(const std::vector<double>& x, const std::vector<double>& y) {
  double mean = 0;
  for (double v : x) mean += v;
  mean /= static_cast<double>(x.size());
  double var = 0;
  for (double v : x) var += (v - mean) * (v - mean);
  var /= static_cast<double>(x.size());
  const auto [lo, hi] = std::minmax_element(y.begin(), y.end());
  return {*hi, *lo, mean, std::sqrt(var)};
}

LogisticFit fit_logistic4(const std::vector<double>& x, const std::vector<double>& y,
                          const LogisticParams& initial, int max_evaluations) {
  LogisticFit fit;
  fit.params = initial;
  std::vector<double> r(x.size()), r_trial(x.size());
  double ss = residuals(x, y, fit.params, r);
  fit.evaluations = 1;
  fit.sum_squares = ss;
  if (!std::isfinite(ss) || x.empty()) return fit;
  double fnorm = std::sqrt(ss);

  Mat a;
  Vec g, column_norms, d{};
  double delta = 0, xnorm = 0, lambda = 0;
  for (int iteration = 1;; ++iteration) {
    normal_equations(x, y, r, fit.params, a, g, column_norms);
    for (int p = 0; p < kP; ++p) {
      if (iteration == 1) d[p] = column_norms[p] == 0 ? 1.0 : column_norms[p];
      d[p] = std::max(d[p], column_norms[p]);  // MINPACK mode 1: scales only grow
    }
    if (iteration == 1) {
      Vec dx;
      for (int p = 0; p < kP; ++p) dx[p] = d[p] * fit.params[p];
      xnorm = norm(dx);
      delta = xnorm == 0 ? kFactor : kFactor * xnorm;
    }
    fit.iterations = iteration;
    if (fnorm == 0) {
      fit.converged = true;
      return fit;
    }
    double ratio = 0;
    do {
      const Vec step = trust_region_step(a, g, d, delta, lambda);
      Vec dstep;
      LogisticParams trial;
      for (int p = 0; p < kP; ++p) {
        dstep[p] = d[p] * step[p];
        trial[p] = fit.params[p] + step[p];
      }
      const double pnorm = norm(dstep);
      if (iteration == 1) delta = std::min(delta, pnorm);
      const double ss_trial = residuals(x, y, trial, r_trial);
      ++fit.evaluations;
      const double fnorm1 =
          std::isfinite(ss_trial) ? std::sqrt(ss_trial) : std::numeric_limits<double>::infinity();
      const double actual = 0.1 * fnorm1 < fnorm ? 1.0 - (fnorm1 / fnorm) * (fnorm1 / fnorm) : -1.0;
      // ||J p||² = pᵀAp
      double jp2 = 0;
      for (int p = 0; p < kP; ++p)
        for (int q = 0; q < kP; ++q) jp2 += step[p] * a[p][q] * step[q];
      const double t1 = std::sqrt(std::max(jp2, 0.0)) / fnorm;
      const double t2 = std::sqrt(lambda) * pnorm / fnorm;
      const double predicted = t1 * t1 + 2 * t2 * t2;
      const double directional = -(t1 * t1 + t2 * t2);
      ratio = predicted != 0 ? actual / predicted : 0.0;
      if (ratio <= 0.25) {
        double shrink = actual >= 0 ? 0.5 : 0.5 * directional / (directional + 0.5 * actual);
        if (0.1 * fnorm1 >= fnorm || shrink < 0.1) shrink = 0.1;
        delta = shrink * std::min(delta, pnorm / 0.1);
        lambda /= shrink;
      } else if (lambda == 0 || ratio >= 0.75) {
        delta = pnorm / 0.5;
        lambda *= 0.5;
      }
      if (ratio >= 1e-4) {
        fit.params = trial;
        r.swap(r_trial);
        fnorm = fnorm1;
        fit.sum_squares = ss_trial;
        Vec dx;
        for (int p = 0; p < kP; ++p) dx[p] = d[p] * fit.params[p];
        xnorm = norm(dx);
      }
      if ((std::fabs(actual) <= kFtol && predicted <= kFtol && 0.5 * ratio <= 1) ||
          delta <= kXtol * xnorm) {
        fit.converged = true;
        return fit;
      }
      // MINPACK's "tolerance too small" exits (info 6–8): no further progress is possible.
      if (fit.evaluations >= max_evaluations ||
          (std::fabs(actual) <= kEps && predicted <= kEps && 0.5 * ratio <= 1) ||
          delta <= kEps * xnorm) {
        return fit;
      }
    } while (ratio < 1e-4);
  }
}

}  // namespace tokenfocus::ensemble
