#include "losses/plcc_term.h"

#include <cmath>
#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "finite_difference.h"

namespace tokenfocus::losses {
namespace {

using testing::analytic_gradient;
using testing::max_relative_error;
using testing::numeric_gradient;

// scipy.stats.pearsonr through the reference Python (.venv): the outside reference.
double scipy_pearson(const torch::Tensor& x, const torch::Tensor& y) {
  auto list = [](const torch::Tensor& t) {
    std::string text;
    for (int64_t i = 0; i < t.numel(); ++i) text += fmt::format("{:.17g},", t[i].item<double>());
    return text;
  };
  const std::string command = fmt::format(
      "{} -c \"import scipy.stats; print(repr(float(scipy.stats.pearsonr([{}], [{}])[0])))\"",
      TOKENFOCUS_REFERENCE_PYTHON, list(x), list(y));
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return NAN;
  char buffer[128] = {};
  const bool read = std::fgets(buffer, sizeof buffer, pipe) != nullptr;
  const int status = pclose(pipe);
  return read && status == 0 ? std::stod(buffer) : NAN;
}

TEST(PlccTerm, PearsonByHand) {
  // s = (1, 2, 3), y = (1, 3, 2): c = 1/3, v_s = v_y = 2/3, r = 0.5.
  const auto s = torch::tensor({1.0, 2.0, 3.0}, torch::kFloat64);
  const auto y = torch::tensor({1.0, 3.0, 2.0}, torch::kFloat64);
  EXPECT_NEAR(pearson_correlation(s, y, 0.0).item<double>(), 0.5, 1e-15);
  EXPECT_NEAR(plcc_loss(s, y, 0.0).item<double>(), 0.5, 1e-15);
  // With ε = 1e-6: r = (1/3) / (2/3 + 1e-6) exactly.
  EXPECT_NEAR(pearson_correlation(s, y, 1e-6).item<double>(), (1.0 / 3) / (2.0 / 3 + 1e-6), 1e-15);
}

TEST(PlccTerm, MatchesScipyPearsonr) {
  torch::manual_seed(4);
  const auto s = 1 + 4 * torch::rand({37}, torch::kFloat64);
  const auto y = s + 0.8 * torch::randn({37}, torch::kFloat64);
  const double reference = scipy_pearson(s, y);
  ASSERT_TRUE(std::isfinite(reference)) << "scipy reference failed";
  // ε = 0 must agree to rounding; the default ε = 1e-6 shifts r by ~ε/var ≈ 1e-6 (var ≈ 1.3).
  EXPECT_NEAR(pearson_correlation(s, y, 0.0).item<double>(), reference, 1e-12);
  EXPECT_NEAR(pearson_correlation(s, y, 1e-6).item<double>(), reference, 1e-5);
}

TEST(PlccTerm, IdenticalScoresGiveZeroCorrelationAndFiniteGradient) {
  const auto y = torch::tensor({1.0, 2.0, 4.0, 5.0}, torch::kFloat64);
  for (auto dtype : {torch::kFloat64, torch::kFloat}) {
    auto s = torch::full({4}, 3.0, dtype).set_requires_grad(true);
    const auto loss = plcc_loss(s, y, 1e-6);
    loss.backward();
    EXPECT_NEAR(loss.item<double>(), 1.0, 1e-6);
    EXPECT_TRUE(torch::isfinite(s.grad()).all().item<bool>());
    // d(1−r)/ds_i = −(y_i − ȳ) / (N · sqrt(ε (v_y + ε))): pushes scores towards y's order.
    const double v_y = 2.5;
    EXPECT_NEAR(s.grad()[0].item<double>(), 2.0 / (4 * std::sqrt(1e-6 * (v_y + 1e-6))), 1e-2);
  }
  // Also MOS all equal (zero variance in y): r = 0, no gradient.
  const auto flat_y = torch::full({4}, 2.0, torch::kFloat64);
  auto s = torch::tensor({1.0, 2.0, 3.0, 5.0}, torch::kFloat64).set_requires_grad(true);
  const auto loss = plcc_loss(s, flat_y, 1e-6);
  loss.backward();
  EXPECT_DOUBLE_EQ(loss.item<double>(), 1.0);
  EXPECT_EQ(s.grad().abs().max().item<double>(), 0.0);
  // One score and none: finite too.
  EXPECT_DOUBLE_EQ(
      plcc_loss(torch::ones({1}, torch::kFloat64), torch::ones({1}, torch::kFloat64), 1e-6)
          .item<double>(),
      1.0);
  EXPECT_TRUE(std::isfinite(
      plcc_loss(torch::zeros({0}, torch::kFloat64), torch::zeros({0}, torch::kFloat64), 1e-6)
          .item<double>()));
}

TEST(PlccTerm, GradientsMatchFiniteDifferences) {
  torch::manual_seed(5);
  const auto s = 1 + 4 * torch::rand({9}, torch::kFloat64);
  const auto y = s + torch::randn({9}, torch::kFloat64);
  auto f = [&](const torch::Tensor& x) { return plcc_loss(x, y, 1e-6); };
  EXPECT_LT(max_relative_error(analytic_gradient(f, s), numeric_gradient(f, s)), 1e-8);
}

}  // namespace
}  // namespace tokenfocus::losses
