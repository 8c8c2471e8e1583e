// Stacking features without exact collinearity. A model's label probabilities sum to 1 and its
// score is their expectation, so the old layout (score + all of q, next to an intercept) is
// singular: the smallest Cholesky pivot of its centred Gram matrix is at rounding level, and a
// least-squares fit may return huge weights that cancel. Every layout of ensemble.stack_features
// must be well posed, and ridge and NNLS fitted on them must give coefficients of ordinary size.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "common/error.h"
#include "ensemble/ridge.h"
#include "ensemble/stacker.h"
#include "ensemble/stacking.h"

namespace tokenfocus::ensemble {
namespace {

constexpr size_t kLabels = 5;

// Three models of one MOS: each a softmax over the 5 labels around its own noisy reading, with
// noise of its own per label (pure Gaussian logits would make the log-odds exactly affine in the
// reading — collinear data, not a collinear layout).
void make_models(size_t rows, std::vector<ModelTable>& tables, std::vector<double>& mos) {
  std::mt19937_64 rng(17);
  std::normal_distribution<double> noise(0, 1);  // test data only: not part of the product
  tables.assign(3, {});
  for (size_t r = 0; r < rows; ++r) {
    const double m = 1 + 4 * (static_cast<double>(rng() >> 11) * 0x1.0p-53);
    mos.push_back(m);
    for (size_t t = 0; t < tables.size(); ++t) {
      const double reading = m + (0.3 + 0.3 * static_cast<double>(t)) * noise(rng);
      double total = 0, expected = 0;
      std::vector<double> q(kLabels);
      for (size_t k = 0; k < kLabels; ++k)
        total += (q[k] = std::exp(-std::pow(static_cast<double>(k + 1) - reading, 2) +
                                  0.5 * noise(rng)));
      for (size_t k = 0; k < kLabels; ++k) expected += (q[k] /= total) * static_cast<double>(k + 1);
      tables[t].score.push_back(expected);
      tables[t].label_probs.insert(tables[t].label_probs.end(), q.begin(), q.end());
    }
  }
}

// Smallest pivot of the Cholesky factor of the centred, unit-diagonal Gram matrix: ~0 when the
// columns (with an intercept) are exactly collinear.
double smallest_pivot(const FeatureMatrix& x) {
  const RidgeSystem sys = ridge_system(x, std::vector<double>(x.rows, 0.0), /*standardise=*/true);
  const size_t p = sys.p;
  std::vector<double> a = sys.gram;
  for (auto& v : a) v /= static_cast<double>(x.rows);
  double smallest = 1e300;
  for (size_t j = 0; j < p; ++j) {
    double d = a[j * p + j];
    for (size_t k = 0; k < j; ++k) d -= a[j * p + k] * a[j * p + k];
    smallest = std::min(smallest, d);
    d = std::sqrt(std::max(d, 1e-300));
    a[j * p + j] = d;
    for (size_t i = j + 1; i < p; ++i) {
      double s = a[i * p + j];
      for (size_t k = 0; k < j; ++k) s -= a[i * p + k] * a[j * p + k];
      a[i * p + j] = s / d;
    }
  }
  return smallest;
}

TEST(StackingFeatures, EveryLayoutIsWellPosedAndGivesOrdinaryCoefficients) {
  std::vector<ModelTable> tables;
  std::vector<double> mos;
  make_models(600, tables, mos);
  const std::vector<const ModelTable*> pointers = {&tables[0], &tables[1], &tables[2]};

  // The old layout, for contrast: score + all five probabilities per model.
  FeatureMatrix legacy;
  legacy.rows = mos.size();
  legacy.cols = 3 * (1 + kLabels);
  for (size_t r = 0; r < mos.size(); ++r)
    for (const auto& t : tables) {
      legacy.values.push_back(t.score[r]);
      for (size_t k = 0; k < kLabels; ++k) legacy.values.push_back(t.label_probs[r * kLabels + k]);
    }
  EXPECT_LT(smallest_pivot(legacy), 1e-9) << "the old layout should be singular";

  for (const auto* name : {"expected_score", "probabilities", "log_odds"}) {
    SCOPED_TRACE(name);
    const FeatureMatrix x =
        stacking_features(pointers, mos.size(), kLabels, {}, parse_stack_features(name), false);
    EXPECT_GT(smallest_pivot(x), 1e-4) << "collinear columns";
    for (const auto* stacker_name : {"ridge", "nnls"}) {
      auto stacker = make_stacker(stacker_name, StackerOptions{5, 3});
      stacker->fit(x, mos);
      // Coefficients of ordinary size: read them back through predictions at unit vectors.
      FeatureMatrix probe;
      probe.rows = x.cols + 1;
      probe.cols = x.cols;
      probe.values.assign(probe.rows * probe.cols, 0.0);
      for (size_t c = 0; c < x.cols; ++c) probe.values[(c + 1) * x.cols + c] = 1.0;
      const auto out = stacker->predict(probe);
      const double intercept = out[0];
      EXPECT_LT(std::abs(intercept), 20.0) << stacker->describe();
      for (size_t c = 0; c < x.cols; ++c)
        EXPECT_LT(std::abs(out[c + 1] - intercept), 20.0)
            << stacker_name << " weight " << c << ": " << stacker->describe();
      const auto pred = stacker->predict(x);
      double error = 0, spread = 0, mean = 0;
      for (double m : mos) mean += m / static_cast<double>(mos.size());
      for (size_t r = 0; r < mos.size(); ++r) {
        error += (pred[r] - mos[r]) * (pred[r] - mos[r]);
        spread += (mos[r] - mean) * (mos[r] - mean);
      }
      // NNLS cannot give the low labels' probabilities the negative weights they need, so on
      // `probabilities` alone (no ŝ column) it is not expected to fit well.
      if (std::string(stacker_name) == "ridge" || std::string(name) != "probabilities")
        EXPECT_LT(error, 0.3 * spread) << stacker_name << " does not fit: " << stacker->describe();
    }
  }
  EXPECT_THROW(parse_stack_features("all"), UserError);
}

}  // namespace
}  // namespace tokenfocus::ensemble
