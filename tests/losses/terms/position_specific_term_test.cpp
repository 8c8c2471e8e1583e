#include "losses/position_specific_term.h"

#include <cmath>

#include <gtest/gtest.h>

#include "finite_difference.h"

namespace tokenfocus::losses {
namespace {

using testing::analytic_gradient;
using testing::max_relative_error;
using testing::numeric_gradient;

TEST(PositionSpecificTerm, SoftmaxOverLabelPositionsWithTemperature) {
  // z_S / τ = (0, ln 2, ln 3) with τ = 2: q = (1, 2, 3) / 6.
  const auto z =
      torch::tensor({0.0, 2 * std::log(2.0), 2 * std::log(3.0)}, torch::kFloat64).view({1, 3});
  const auto log_q = label_log_distribution(z, 2.0);
  EXPECT_NEAR(log_q[0][0].item<double>(), std::log(1.0 / 6), 1e-12);
  EXPECT_NEAR(log_q[0][2].item<double>(), std::log(3.0 / 6), 1e-12);
  const auto dist = torch::tensor({0.5, 0.0, 0.5}, torch::kFloat64).view({1, 3});
  const double expected = -(0.5 * std::log(1.0 / 6) + 0.5 * std::log(3.0 / 6));
  EXPECT_NEAR(position_specific_rows(z, dist, 2.0)[0].item<double>(), expected, 1e-12);
}

TEST(PositionSpecificTerm, StableWithLogitsOfMagnitude1e4) {
  const auto z = torch::tensor({1e4f, -1e4f, 1e4f - 2.0f}).view({1, 3});
  const auto dist = torch::tensor({0.0f, 0.0f, 1.0f}).view({1, 3});
  const auto row = position_specific_rows(z, dist, 1.0);
  EXPECT_NEAR(row[0].item<float>(), 2.0 + std::log1p(std::exp(-2.0)), 1e-4);
}

TEST(PositionSpecificTerm, GradientsMatchFiniteDifferences) {
  torch::manual_seed(2);
  const auto z = torch::randn({4, 5}, torch::kFloat64) * 3;
  const auto dist = torch::softmax(torch::randn({4, 5}, torch::kFloat64), 1);
  for (double tau : {0.5, 1.0, 3.0}) {
    auto f = [&](const torch::Tensor& x) { return position_specific_rows(x, dist, tau).sum(); };
    EXPECT_LT(max_relative_error(analytic_gradient(f, z), numeric_gradient(f, z)), 1e-8) << tau;
  }
}

}  // namespace
}  // namespace tokenfocus::losses
