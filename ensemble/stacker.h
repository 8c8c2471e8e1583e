// Meta-learners for stacking: fitted on out-of-fold features (each model's score and label
// distribution, optionally element probabilities) to predict MOS. One small interface; each
// learner lives in its own file and is created by name from `ensemble.stackers`.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tokenfocus::ensemble {

// Row-major feature matrix.
struct FeatureMatrix {
  size_t rows = 0;
  size_t cols = 0;
  std::vector<double> values;  // rows × cols
  double at(size_t r, size_t c) const { return values[r * cols + c]; }
  FeatureMatrix select_rows(const std::vector<size_t>& rows) const;
};

class Stacker {
 public:
  virtual ~Stacker() = default;
  virtual std::string name() const = 0;
  // Fits on (x, y); chooses its own hyperparameters by inner cross-validation on (x, y) only.
  virtual void fit(const FeatureMatrix& x, const std::vector<double>& y) = 0;
  virtual std::vector<double> predict(const FeatureMatrix& x) const = 0;
  // One line for the report: chosen hyperparameters and weights.
  virtual std::string describe() const = 0;
};

struct StackerOptions {
  int64_t inner_folds = 5;
  uint64_t seed = 0;
};

// "ridge", "nnls" or "xgboost"; UserError listing the known names otherwise.
std::unique_ptr<Stacker> make_stacker(const std::string& name, const StackerOptions& options);
const std::vector<std::string>& stacker_names();

// Contiguous-free k-fold assignment of n rows (seeded shuffle), fold ids 0..k-1.
std::vector<int> kfold_assignment(size_t n, int64_t k, uint64_t seed);

}  // namespace tokenfocus::ensemble
