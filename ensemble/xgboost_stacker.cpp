#include "ensemble/xgboost_stacker.h"

#include <limits>

#include <fmt/format.h>
#include <xgboost/c_api.h>

#include "common/error.h"

namespace tokenfocus::ensemble {
namespace {

void check(int status, const char* call) {
  if (status != 0) throw_internal_error("xgboost {} failed: {}", call, XGBGetLastError());
}

std::shared_ptr<void> make_dmatrix(const FeatureMatrix& x, const std::vector<double>* y) {
  std::vector<float> values(x.values.begin(), x.values.end());
  DMatrixHandle handle = nullptr;
  check(XGDMatrixCreateFromMat(values.data(), x.rows, x.cols,
                               std::numeric_limits<float>::quiet_NaN(), &handle),
        "XGDMatrixCreateFromMat");
  std::shared_ptr<void> matrix(handle, [](void* h) { XGDMatrixFree(h); });
  if (y) {
    std::vector<float> labels(y->begin(), y->end());
    check(XGDMatrixSetFloatInfo(handle, "label", labels.data(), labels.size()),
          "XGDMatrixSetFloatInfo");
  }
  return matrix;
}

std::shared_ptr<void> train(const FeatureMatrix& x, const std::vector<double>& y,
                            const XgboostParams& p, uint64_t seed) {
  auto matrix = make_dmatrix(x, &y);
  DMatrixHandle matrices[] = {matrix.get()};
  BoosterHandle handle = nullptr;
  check(XGBoosterCreate(matrices, 1, &handle), "XGBoosterCreate");
  std::shared_ptr<void> booster(handle, [](void* h) { XGBoosterFree(h); });
  const std::pair<const char*, std::string> params[] = {
      {"objective", "reg:squarederror"},
      {"tree_method", "hist"},
      {"max_depth", std::to_string(p.max_depth)},
      {"eta", fmt::format("{}", p.eta)},
      {"subsample", fmt::format("{}", p.subsample)},
      {"seed", std::to_string(seed % 2147483647)},
      {"nthread", "1"},  // callers parallelise over folds
      {"verbosity", "0"},
  };
  for (const auto& [key, value] : params) {
    check(XGBoosterSetParam(handle, key, value.c_str()), "XGBoosterSetParam");
  }
  for (int round = 0; round < p.rounds; ++round) {
    check(XGBoosterUpdateOneIter(handle, round, matrix.get()), "XGBoosterUpdateOneIter");
  }
  return booster;
}

std::vector<double> predict_with(const std::shared_ptr<void>& booster, const FeatureMatrix& x) {
  auto matrix = make_dmatrix(x, nullptr);
  bst_ulong length = 0;
  const float* result = nullptr;
  check(XGBoosterPredict(booster.get(), matrix.get(), 0, 0, 0, &length, &result),
        "XGBoosterPredict");
  return std::vector<double>(result, result + length);
}

}  // namespace

void XgboostStacker::fit(const FeatureMatrix& x, const std::vector<double>& y) {
  const auto folds = kfold_assignment(x.rows, options_.inner_folds, options_.seed);
  double best_error = std::numeric_limits<double>::infinity();
  for (int depth : {2, 4}) {
    for (int rounds : {100, 300}) {
      const XgboostParams candidate{depth, rounds, 0.05, 0.8};
      double error = 0;
      for (int64_t f = 0; f < options_.inner_folds; ++f) {
        std::vector<size_t> train_rows, held;
        for (size_t r = 0; r < x.rows; ++r) (folds[r] == f ? held : train_rows).push_back(r);
        if (train_rows.empty() || held.empty()) continue;
        std::vector<double> y_train;
        for (size_t r : train_rows) y_train.push_back(y[r]);
        const auto model = train(x.select_rows(train_rows), y_train, candidate, options_.seed);
        const auto pred = predict_with(model, x.select_rows(held));
        for (size_t i = 0; i < held.size(); ++i)
          error += (pred[i] - y[held[i]]) * (pred[i] - y[held[i]]);
      }
      if (error < best_error) {
        best_error = error;
        params_ = candidate;
      }
    }
  }
  booster_ = train(x, y, params_, options_.seed);
}

std::vector<double> XgboostStacker::predict(const FeatureMatrix& x) const {
  if (!booster_) throw_internal_error("xgboost stacker used before fit()");
  return predict_with(booster_, x);
}

std::string XgboostStacker::describe() const {
  return fmt::format("xgboost max_depth={} rounds={} eta={} subsample={} (inner {}-fold CV)",
                     params_.max_depth, params_.rounds, params_.eta, params_.subsample,
                     options_.inner_folds);
}

}  // namespace tokenfocus::ensemble
