// Ridge against scikit-learn's Ridge and NNLS against scipy.optimize.nnls on the same data, plus
// behavioural checks of the three stackers. Tolerance 1e-6 absolute on coefficients: both sides
// solve the same small, well-conditioned normal equations in double precision.
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/error.h"
#include "common/python_reference.h"
#include "ensemble/nnls.h"
#include "ensemble/ridge.h"
#include "ensemble/stacker.h"

namespace tokenfocus::ensemble {
namespace {

constexpr double kTolerance = 1e-6;

// Stacking-like data: three noisy "model scores" of a MOS, one of them anti-correlated so NNLS
// has an active constraint, plus a nearly constant column.
void make_data(size_t n, unsigned seed, FeatureMatrix& x, std::vector<double>& y) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> mos(1, 5);
  std::normal_distribution<double> noise(0, 1);
  x.rows = n;
  x.cols = 4;
  x.values.clear();
  y.clear();
  for (size_t i = 0; i < n; ++i) {
    const double m = mos(rng);
    y.push_back(m);
    x.values.push_back(m + 0.4 * noise(rng));
    x.values.push_back(0.8 * m + 0.7 * noise(rng));
    x.values.push_back(6 - m + 0.9 * noise(rng));
    x.values.push_back(0.01 * noise(rng));
  }
}

nlohmann::json rows_of(const FeatureMatrix& x) {
  nlohmann::json rows = nlohmann::json::array();
  for (size_t r = 0; r < x.rows; ++r) {
    rows.push_back(
        std::vector<double>(x.values.begin() + r * x.cols, x.values.begin() + (r + 1) * x.cols));
  }
  return rows;
}

TEST(EnsembleStacking, RidgeMatchesScikitLearn) {
  FeatureMatrix x;
  std::vector<double> y;
  make_data(500, 3, x, y);
  const std::vector<double> alphas{1e-3, 0.3, 10.0, 300.0};
  const auto reference =
      testing::run_reference_python(R"PY(
from sklearn.linear_model import Ridge
X, y = np.array(data['x']), np.array(data['y'])
result = []
for alpha in data['alphas']:
    m = Ridge(alpha=alpha, fit_intercept=True).fit(X, y)
    result.append({'coef': m.coef_.tolist(), 'intercept': float(m.intercept_)})
)PY",
                                    {{"x", rows_of(x)}, {"y", y}, {"alphas", alphas}});
  for (size_t a = 0; a < alphas.size(); ++a) {
    SCOPED_TRACE("alpha " + std::to_string(alphas[a]));
    const auto model = fit_ridge(x, y, alphas[a]);
    EXPECT_NEAR(model.intercept, reference[a]["intercept"].get<double>(), kTolerance);
    for (size_t c = 0; c < x.cols; ++c) {
      EXPECT_NEAR(model.weights[c], reference[a]["coef"][c].get<double>(), kTolerance);
    }
  }
}

TEST(EnsembleStacking, NnlsMatchesScipy) {
  for (unsigned seed : {5u, 6u, 7u}) {
    FeatureMatrix a;
    std::vector<double> b;
    make_data(300, seed, a, b);
    for (auto& v : b) v -= 3.0;  // no intercept in scipy's nnls: make some weights want to be < 0
    const auto reference = testing::run_reference_python(R"PY(
from scipy.optimize import nnls
x, rnorm = nnls(np.array(data['a']), np.array(data['b']))
result = x.tolist()
)PY",
                                                         {{"a", rows_of(a)}, {"b", b}});
    const auto x = nnls(a, b);
    bool has_zero = false;
    for (size_t c = 0; c < a.cols; ++c) {
      EXPECT_NEAR(x[c], reference[c].get<double>(), kTolerance) << "seed " << seed << " col " << c;
      EXPECT_GE(x[c], 0.0);
      has_zero |= x[c] == 0.0;
    }
    EXPECT_TRUE(has_zero) << "the data were built so that a constraint is active";
  }
}

TEST(EnsembleStacking, EveryStackerBeatsTheMeanOnHeldOutRows) {
  FeatureMatrix x, x_test;
  std::vector<double> y, y_test;
  make_data(800, 11, x, y);
  make_data(400, 12, x_test, y_test);
  double mean = 0;
  for (double v : y) mean += v / static_cast<double>(y.size());
  double baseline = 0;
  for (double v : y_test) baseline += (v - mean) * (v - mean);
  for (const auto& name : stacker_names()) {
    auto stacker = make_stacker(name, StackerOptions{3, 1});
    stacker->fit(x, y);
    const auto pred = stacker->predict(x_test);
    double error = 0;
    for (size_t i = 0; i < pred.size(); ++i) error += (pred[i] - y_test[i]) * (pred[i] - y_test[i]);
    EXPECT_LT(error, 0.5 * baseline) << name << ": " << stacker->describe();
  }
}

TEST(EnsembleStacking, UnknownNameIsAUserError) {
  EXPECT_THROW(make_stacker("lasso", StackerOptions{}), UserError);
}

}  // namespace
}  // namespace tokenfocus::ensemble
