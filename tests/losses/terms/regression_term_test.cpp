#include "losses/regression_term.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "finite_difference.h"

namespace tokenfocus::losses {
namespace {

using testing::analytic_gradient;
using testing::max_relative_error;
using testing::numeric_gradient;

TEST(RegressionTerm, ExpectedScoreIsTheMeanOfTheLabelValues) {
  const auto q = torch::tensor({0.1, 0.2, 0.3, 0.4, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0}, torch::kFloat64)
                     .view({2, 5});
  const auto values = torch::tensor({1.0, 2.0, 3.0, 4.0, 5.0}, torch::kFloat64);
  const auto s = expected_score(q, values);
  EXPECT_NEAR(s[0].item<double>(), 0.1 + 0.4 + 0.9 + 1.6, 1e-12);
  EXPECT_NEAR(s[1].item<double>(), 5.0, 1e-12);
}

TEST(RegressionTerm, MseAndSmoothL1ByHand) {
  const auto s = torch::tensor({3.0, 1.5, 4.0}, torch::kFloat64);
  const auto y = torch::tensor({3.5, 4.0, 4.0}, torch::kFloat64);
  const auto mse = regression_rows(s, y, RegressionKind::kMse);
  EXPECT_NEAR(mse[0].item<double>(), 0.25, 1e-12);
  EXPECT_NEAR(mse[1].item<double>(), 6.25, 1e-12);
  EXPECT_NEAR(mse[2].item<double>(), 0.0, 1e-12);
  const auto l1 = regression_rows(s, y, RegressionKind::kSmoothL1, 1.0);
  EXPECT_NEAR(l1[0].item<double>(), 0.5 * 0.25, 1e-12);  // |d| < β: quadratic
  EXPECT_NEAR(l1[1].item<double>(), 2.5 - 0.5, 1e-12);   // |d| ≥ β: linear
  const auto wide = regression_rows(s, y, RegressionKind::kSmoothL1, 4.0);
  EXPECT_NEAR(wide[1].item<double>(), 0.5 * 6.25 / 4.0, 1e-12);
  // torch's own SmoothL1 as an outside reference.
  const auto ref = torch::nn::functional::smooth_l1_loss(
      s, y, torch::nn::functional::SmoothL1LossFuncOptions().reduction(torch::kNone));
  EXPECT_LT(max_relative_error(l1, ref), 1e-12);
}

TEST(RegressionTerm, KindNamesAreTheConfigValues) {
  EXPECT_EQ(regression_kind_from_name("mse"), RegressionKind::kMse);
  EXPECT_EQ(regression_kind_from_name("smooth_l1"), RegressionKind::kSmoothL1);
  EXPECT_THROW(regression_kind_from_name("huber"), UserError);
}

TEST(RegressionTerm, GradientsMatchFiniteDifferences) {
  torch::manual_seed(3);
  const auto values = torch::tensor({1.0, 2.0, 3.0, 4.0, 5.0}, torch::kFloat64);
  const auto z = torch::randn({6, 5}, torch::kFloat64);
  const auto y = torch::tensor({1.0, 2.2, 3.9, 4.4, 2.5, 5.0}, torch::kFloat64);
  for (auto kind : {RegressionKind::kMse, RegressionKind::kSmoothL1}) {
    auto f = [&](const torch::Tensor& x) {
      return regression_rows(expected_score(torch::softmax(x, 1), values), y, kind, 0.7).sum();
    };
    EXPECT_LT(max_relative_error(analytic_gradient(f, z), numeric_gradient(f, z)), 1e-8);
  }
}

}  // namespace
}  // namespace tokenfocus::losses
