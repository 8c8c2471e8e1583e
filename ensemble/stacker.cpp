#include "ensemble/stacker.h"

#include <algorithm>
#include <numeric>
#include <random>

#include <fmt/format.h>

#include "common/error.h"
#include "data/portable_random.h"
#include "ensemble/nnls.h"
#include "ensemble/ridge.h"
#include "ensemble/xgboost_stacker.h"

namespace tokenfocus::ensemble {

FeatureMatrix FeatureMatrix::select_rows(const std::vector<size_t>& selected) const {
  FeatureMatrix out;
  out.rows = selected.size();
  out.cols = cols;
  out.values.reserve(out.rows * cols);
  for (size_t r : selected) {
    out.values.insert(out.values.end(), values.begin() + r * cols, values.begin() + (r + 1) * cols);
  }
  return out;
}

std::vector<int> kfold_assignment(size_t n, int64_t k, uint64_t seed) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed ^ 0x5851F42D4C957F2DULL);
  data::portable_shuffle(order, rng);
  std::vector<int> fold(n);
  for (size_t i = 0; i < n; ++i) fold[order[i]] = static_cast<int>(i % static_cast<size_t>(k));
  return fold;
}

const std::vector<std::string>& stacker_names() {
  static const std::vector<std::string> names{"ridge", "nnls", "xgboost"};
  return names;
}

std::unique_ptr<Stacker> make_stacker(const std::string& name, const StackerOptions& options) {
  if (name == "ridge") return std::make_unique<RidgeStacker>(options);
  if (name == "nnls") return std::make_unique<NnlsStacker>();
  if (name == "xgboost") return std::make_unique<XgboostStacker>(options);
  throw_user_error("ensemble.stackers: unknown stacker '{}' (known: {})", name,
                   fmt::join(stacker_names(), ", "));
}

}  // namespace tokenfocus::ensemble
