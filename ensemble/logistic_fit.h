// The 4-parameter logistic of the NTIRE/VQEG protocol,
//   f(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2,
// fitted by Levenberg–Marquardt the way scipy.optimize.curve_fit does by default (MINPACK lmder
// style: scaled trust region, column-norm scaling, ftol = xtol = 1.49012e-8).
#pragma once

#include <array>
#include <vector>

namespace tokenfocus::ensemble {

using LogisticParams = std::array<double, 4>;

double logistic4(double x, const LogisticParams& b);

struct LogisticFit {
  LogisticParams params{};
  bool converged = false;  // a MINPACK convergence test fired before the iteration cap
  int iterations = 0;
  int evaluations = 0;
  double sum_squares = 0;
};

// Least-squares fit of y ≈ f(x) from `initial`. Never throws: when the data are degenerate
// (non-finite residuals at the start) params stay at `initial` and converged is false; when the
// iteration cap is reached the best parameters found are kept and converged is false.
LogisticFit fit_logistic4(const std::vector<double>& x, const std::vector<double>& y,
                          const LogisticParams& initial, int max_evaluations = 20000);

// The official initial values: [max(y), min(y), mean(x), std(x)] (np.std: population).
LogisticParams official_initial_params(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace tokenfocus::ensemble
