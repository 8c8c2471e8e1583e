// Ridge regression with an intercept, as scikit-learn's Ridge(alpha, fit_intercept=True): centre
// x and y, solve (XcᵀXc + αI) w = Xcᵀyc, intercept = ȳ − x̄ᵀw. The stacker standardises the
// features inside every fit (each inner-CV training part uses its own means and deviations, as
// scikit-learn's StandardScaler in a Pipeline would) and picks α from a log-spaced grid by inner
// k-fold cross-validation (mean squared error).
#pragma once

#include <vector>

#include "ensemble/stacker.h"

namespace tokenfocus::ensemble {

struct LinearModel {
  std::vector<double> weights;
  double intercept = 0;
  std::vector<double> predict(const FeatureMatrix& x) const;
};

LinearModel fit_ridge(const FeatureMatrix& x, const std::vector<double>& y, double alpha);

// The centred normal equations of (x, y): computed once, then solved for any alpha (the inner CV
// reuses them across the whole alpha grid). `standardise`: the columns are also divided by their
// standard deviation over these rows, so alpha penalises every feature in the same units; the
// solved weights are mapped back to the original units.
struct RidgeSystem {
  size_t p = 0;
  std::vector<double> gram, rhs, mean_x;  // XsᵀXs, Xsᵀyc, x̄ (Xs: centred, maybe scaled)
  std::vector<double> scale;              // per column: its standard deviation, or 1
  double mean_y = 0;
};
RidgeSystem ridge_system(const FeatureMatrix& x, const std::vector<double>& y,
                         bool standardise = false);
LinearModel solve_ridge(const RidgeSystem& system, double alpha);

class RidgeStacker : public Stacker {
 public:
  explicit RidgeStacker(StackerOptions options) : options_(options) {}
  std::string name() const override { return "ridge"; }
  void fit(const FeatureMatrix& x, const std::vector<double>& y) override;
  std::vector<double> predict(const FeatureMatrix& x) const override { return model_.predict(x); }
  std::string describe() const override;
  double alpha() const { return alpha_; }

 private:
  StackerOptions options_;
  LinearModel model_;
  double alpha_ = 1.0;
};

// Population standard deviation of each column around `mean`; 1 for a constant column.
std::vector<double> column_deviations(const FeatureMatrix& x, const std::vector<double>& mean);

// Solves the symmetric positive definite system a·x = b (n×n, row-major) by Cholesky; throws
// InternalError when a is not positive definite.
std::vector<double> solve_spd(std::vector<double> a, std::vector<double> b, size_t n);

}  // namespace tokenfocus::ensemble
