#include "losses/readout.h"

#include <cmath>

#include <gtest/gtest.h>

namespace tokenfocus::losses {
namespace {

// With W = I the hidden states ARE the logits, so every expected value is computed by hand.
struct IdentityHead {
  torch::Tensor weight = torch::eye(5, torch::kFloat64);
  // exp(z) = (1, 2, 3, 1, 5): the full-vocabulary denominator is 12.
  torch::Tensor hidden =
      torch::tensor({0.0, std::log(2.0), std::log(3.0), 0.0, std::log(5.0)}, torch::kFloat64)
          .view({1, 5});
};

TEST(Readout, OverallDistributionAndExpectedScore) {
  IdentityHead h;
  const auto head = LabelHead::from_vectors({1, 2, 4}, {1.0, 2.0, 3.0});
  const auto out = read_overall(h.hidden, h.weight, head, 1.0);
  EXPECT_NEAR(out.distribution[0][0].item<double>(), 0.2, 1e-12);  // 2 / (2 + 3 + 5)
  EXPECT_NEAR(out.distribution[0][2].item<double>(), 0.5, 1e-12);
  EXPECT_NEAR(out.score[0].item<double>(), 0.2 * 1 + 0.3 * 2 + 0.5 * 3, 1e-12);
  // τ = 2 takes square roots of the masses: (√2, √3, √5) normalised.
  const auto warm = read_overall(h.hidden, h.weight, head, 2.0);
  const double total = std::sqrt(2.0) + std::sqrt(3.0) + std::sqrt(5.0);
  EXPECT_NEAR(warm.distribution[0][1].item<double>(), std::sqrt(3.0) / total, 1e-12);
}

TEST(Readout, ElementProbabilityWithAndWithoutCaseVariants) {
  IdentityHead h;
  // yes = id 1 (+ variant "Yes" = id 4), no = id 2 (+ variant id 0).
  const auto yes_no = LabelHead::from_vectors({1, 2}, {1.0, 0.0}, {{4}, {0}});
  EXPECT_NEAR(element_probability(h.hidden, h.weight, yes_no, 1.0, false)[0].item<double>(),
              2.0 / 5.0, 1e-12);
  EXPECT_NEAR(element_probability(h.hidden, h.weight, yes_no, 1.0, true)[0].item<double>(),
              (2.0 + 5.0) / (2.0 + 5.0 + 3.0 + 1.0), 1e-12);
}

TEST(Readout, ZeroShotYesProbabilityIsOverTheFullVocabulary) {
  IdentityHead h;
  const auto p = zero_shot_yes_probability(h.hidden, h.weight, torch::tensor({4}, torch::kInt64));
  EXPECT_NEAR(p[0].item<double>(), 5.0 / 12.0, 1e-12);
  const auto both =
      zero_shot_yes_probability(h.hidden, h.weight, torch::tensor({1, 4}, torch::kInt64));
  EXPECT_NEAR(both[0].item<double>(), 7.0 / 12.0, 1e-12);
}

TEST(Readout, StableWithLogitsOfMagnitude1e4) {
  const auto weight = torch::eye(4);
  const auto hidden = torch::tensor({1e4f, 1e4f - std::log(3.0f), -1e4f, 1e4f}).view({1, 4});
  // float32 spaces numbers near 1e4 by 2^-10, so take the ratio exp(z1 - z0) ≈ 1/3 from the
  // rounded inputs themselves; the read-out must then be exact to float32 rounding (~1e-6).
  const double r = std::exp(static_cast<double>(hidden[0][1].item<float>()) -
                            static_cast<double>(hidden[0][0].item<float>()));
  const auto yes_no = LabelHead::from_vectors({0, 1}, {1.0, 0.0}, {{3}, {}});
  EXPECT_NEAR(element_probability(hidden, weight, yes_no, 1.0, false)[0].item<float>(),
              1.0 / (1.0 + r), 1e-6);
  EXPECT_NEAR(element_probability(hidden, weight, yes_no, 1.0, true)[0].item<float>(),
              2.0 / (2.0 + r), 1e-6);
  const auto p = zero_shot_yes_probability(hidden, weight, torch::tensor({0}, torch::kInt64));
  EXPECT_NEAR(p[0].item<float>(), 1.0 / (2.0 + r), 1e-6);
}

TEST(Readout, LabelHeadValidationNamesTheConfigKey) {
  const auto bad = LabelHead::from_vectors({1, 99}, {1.0, 0.0});
  try {
    bad.validate(50, "prompt.element_labels");
    FAIL() << "expected a UserError";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("prompt.element_labels"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("99"), std::string::npos);
  }
  EXPECT_THROW(LabelHead::from_vectors({3, 3}, {1.0, 0.0}).validate(50, "x"), std::exception);
  EXPECT_THROW(LabelHead::from_vectors({1, 2}, {1.0}).validate(50, "x"), std::exception);
  EXPECT_NO_THROW(LabelHead::from_vectors({1, 2}, {1.0, 0.0}, {{3}, {}}).validate(50, "x"));
}

}  // namespace
}  // namespace tokenfocus::losses
