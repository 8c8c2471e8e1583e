// Gradient-boosted regression trees (Debian's libxgboost, C API) as a stacking meta-learner. Tree
// depth and number of rounds are chosen by inner k-fold cross-validation (mean squared error).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ensemble/stacker.h"

namespace tokenfocus::ensemble {

struct XgboostParams {
  int max_depth = 3;
  int rounds = 200;
  double eta = 0.05;
  double subsample = 0.8;
};

class XgboostStacker : public Stacker {
 public:
  explicit XgboostStacker(StackerOptions options) : options_(options) {}
  std::string name() const override { return "xgboost"; }
  void fit(const FeatureMatrix& x, const std::vector<double>& y) override;
  std::vector<double> predict(const FeatureMatrix& x) const override;
  std::string describe() const override;

 private:
  StackerOptions options_;
  XgboostParams params_;
  std::shared_ptr<void> booster_;  // BoosterHandle, freed with XGBoosterFree
};

}  // namespace tokenfocus::ensemble
