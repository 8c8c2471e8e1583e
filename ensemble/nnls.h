// Non-negative least squares by Lawson and Hanson's active-set algorithm (what
// scipy.optimize.nnls solves): min ||A x − b|| subject to x ≥ 0. The stacker fits an unconstrained
// intercept by centring features and target first, so only the model weights are constrained.
#pragma once

#include <vector>

#include "ensemble/ridge.h"
#include "ensemble/stacker.h"

namespace tokenfocus::ensemble {

// a: rows × cols row-major. Returns x (cols).
std::vector<double> nnls(const FeatureMatrix& a, const std::vector<double>& b);

class NnlsStacker : public Stacker {
 public:
  std::string name() const override { return "nnls"; }
  void fit(const FeatureMatrix& x, const std::vector<double>& y) override;
  std::vector<double> predict(const FeatureMatrix& x) const override { return model_.predict(x); }
  std::string describe() const override;

 private:
  LinearModel model_;
};

}  // namespace tokenfocus::ensemble
