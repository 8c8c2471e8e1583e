#include "losses/token_focus_term.h"

#include <cmath>

#include <gtest/gtest.h>

#include "finite_difference.h"

namespace tokenfocus::losses {
namespace {

using testing::analytic_gradient;
using testing::max_relative_error;
using testing::numeric_gradient;

// exp(logits) = (1, 2, 3, 1): the softmax denominator is 7.
torch::Tensor simple_logits() {
  return torch::tensor({0.0, std::log(2.0), std::log(3.0), 0.0}, torch::kFloat64).view({1, 4});
}

TEST(TokenFocusTerm, HardTargetIsFullVocabularyCrossEntropy) {
  const auto rows = token_focus_hard_rows(simple_logits(), torch::tensor({2}, torch::kInt64));
  EXPECT_NEAR(rows[0].item<double>(), std::log(7.0) - std::log(3.0), 1e-12);
}

TEST(TokenFocusTerm, SoftTargetPlacesTheDistributionOnTheLabelTokens) {
  const auto labels = torch::tensor({1, 2}, torch::kInt64);
  const auto dist = torch::tensor({0.25, 0.75}, torch::kFloat64).view({1, 2});
  const auto rows = token_focus_soft_rows(simple_logits(), labels, dist);
  const double expected = -(0.25 * std::log(2.0 / 7.0) + 0.75 * std::log(3.0 / 7.0));
  EXPECT_NEAR(rows[0].item<double>(), expected, 1e-12);
}

TEST(TokenFocusTerm, OneHotSoftTargetEqualsHardTarget) {
  const auto logits = torch::randn({3, 9}, torch::kFloat64);
  const auto labels = torch::tensor({4, 7}, torch::kInt64);
  const auto dist = torch::tensor({0.0, 1.0, 1.0, 0.0, 0.0, 1.0}, torch::kFloat64).view({3, 2});
  const auto soft = token_focus_soft_rows(logits, labels, dist);
  const auto hard = token_focus_hard_rows(logits, torch::tensor({7, 4, 7}, torch::kInt64));
  EXPECT_LT(max_relative_error(soft, hard), 1e-12);
}

TEST(TokenFocusTerm, StableWithLogitsOfMagnitude1e4) {
  // float32 exp(1e4) overflows; the log-sum-exp must not. Expected: log(1 + e^-1 + 2 e^-2e4).
  auto logits = torch::tensor({1e4f, 1e4f - 1.0f, -1e4f, -1e4f}, torch::kFloat).view({1, 4});
  const auto hard = token_focus_hard_rows(logits, torch::tensor({0}, torch::kInt64));
  EXPECT_TRUE(std::isfinite(hard[0].item<float>()));
  EXPECT_NEAR(hard[0].item<float>(), std::log1p(std::exp(-1.0)), 1e-5);
  const auto soft = token_focus_soft_rows(logits, torch::tensor({0, 1}, torch::kInt64),
                                          torch::tensor({0.5f, 0.5f}).view({1, 2}));
  EXPECT_NEAR(soft[0].item<float>(), std::log1p(std::exp(-1.0)) + 0.5, 1e-4);
  auto leaf = logits.clone().set_requires_grad(true);
  token_focus_hard_rows(leaf, torch::tensor({2}, torch::kInt64)).sum().backward();
  EXPECT_TRUE(torch::isfinite(leaf.grad()).all().item<bool>());
  EXPECT_NEAR(leaf.grad()[0][2].item<float>(), -1.0, 1e-6);  // p(target) ≈ 0
}

TEST(TokenFocusTerm, GradientsMatchFiniteDifferences) {
  torch::manual_seed(1);
  const auto logits = torch::randn({3, 7}, torch::kFloat64) * 2;
  const auto labels = torch::tensor({1, 3, 6}, torch::kInt64);
  const auto dist = torch::softmax(torch::randn({3, 3}, torch::kFloat64), 1);
  const auto targets = torch::tensor({3, 0, 6}, torch::kInt64);
  auto soft = [&](const torch::Tensor& x) { return token_focus_soft_rows(x, labels, dist).sum(); };
  auto hard = [&](const torch::Tensor& x) { return token_focus_hard_rows(x, targets).sum(); };
  // Central differences with h = 1e-6 in double: truncation ~h² and rounding ~1e-16/h ≈ 1e-10.
  EXPECT_LT(max_relative_error(analytic_gradient(soft, logits), numeric_gradient(soft, logits)),
            1e-8);
  EXPECT_LT(max_relative_error(analytic_gradient(hard, logits), numeric_gradient(hard, logits)),
            1e-8);
}

}  // namespace
}  // namespace tokenfocus::losses
