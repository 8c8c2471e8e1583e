// Parity of the challenge metrics with scipy (spearmanr, pearsonr, kendalltau, curve_fit) as the
// official evaluate.py calls them, on random and heavily tied data. Tolerance 1e-6 absolute (the
// brief's bar): correlations are closed-form (agree to ~1e-15); PLCC depends on where two
// Levenberg–Marquardt runs stop (ftol = 1.49e-8 on the sum of squares), which moves PLCC by far
// less than 1e-6.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/python_reference.h"
#include "ensemble/metrics.h"

namespace tokenfocus::ensemble {
namespace {

constexpr double kTolerance = 1e-6;

const char* kScipySnippet = R"PY(
import scipy.stats
from scipy.optimize import curve_fit
def logistic_func(X, b1, b2, b3, b4):
    return b2 + np.divide(b1 - b2, 1 + np.exp(np.negative(np.divide(X - b3, np.abs(b4)))))
def plcc(x, y):  # fit y ~ f(x) exactly as evaluate.py's compute_metrics(y_pred=x, y=y)
    popt, _ = curve_fit(logistic_func, x, y, p0=[np.max(y), np.min(y), np.mean(x), np.std(x)],
                        maxfev=int(1e8))
    return float(scipy.stats.pearsonr(y, logistic_func(x, *popt))[0]), [float(p) for p in popt]
result = []
for case in data:
    gt, pred = np.array(case['gt']), np.array(case['pred'])
    official, popt_official = plcc(gt, pred)
    conventional, popt_conventional = plcc(pred, gt)
    result.append({
        'srcc': float(scipy.stats.spearmanr(gt, pred)[0]),
        'pearson': float(scipy.stats.pearsonr(gt, pred)[0]),
        'krcc': float(scipy.stats.kendalltau(gt, pred)[0]),
        'plcc_official': official, 'plcc_conventional': conventional,
        'popt_official': popt_official,
        'rmse': float(np.sqrt(np.mean((gt - pred) ** 2))),
    })
)PY";

struct Case {
  std::vector<double> gt, pred;
};

// MOS-like ground truth and a noisy, non-linearly related prediction.
Case random_case(size_t n, unsigned seed, bool tied) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> mos(1.0, 5.0);
  std::normal_distribution<double> noise(0.0, 0.6);
  Case c;
  for (size_t i = 0; i < n; ++i) {
    double g = mos(rng);
    if (tied) g = std::round(g * 3) / 3;  // annotator means of 3 raters: many ties
    double p = 1 + 4 / (1 + std::exp(-(g - 3) * 1.3)) + noise(rng);
    if (tied) p = std::round(p * 2) / 2;
    c.gt.push_back(g);
    c.pred.push_back(p);
  }
  return c;
}

TEST(EnsembleMetrics, MatchScipyOnRandomAndTiedData) {
  std::vector<Case> cases;
  unsigned seed = 1;
  for (size_t n : {7, 50, 400, 3000}) {
    cases.push_back(random_case(n, seed++, false));
    cases.push_back(random_case(n, seed++, true));
  }
  nlohmann::json input = nlohmann::json::array();
  for (const auto& c : cases) input.push_back({{"gt", c.gt}, {"pred", c.pred}});
  const auto reference = testing::run_reference_python(kScipySnippet, input);
  ASSERT_EQ(reference.size(), cases.size());
  double worst_plcc = 0, worst_rank = 0;  // reported, so the real margin is visible in the log
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i) + " n=" + std::to_string(cases[i].gt.size()));
    const auto& c = cases[i];
    const auto& r = reference[i];
    EXPECT_NEAR(spearman(c.gt, c.pred), r["srcc"].get<double>(), kTolerance);
    EXPECT_NEAR(pearson(c.gt, c.pred), r["pearson"].get<double>(), kTolerance);
    EXPECT_NEAR(kendall_tau_b(c.gt, c.pred), r["krcc"].get<double>(), kTolerance);
    EXPECT_NEAR(rmse(c.gt, c.pred), r["rmse"].get<double>(), kTolerance);
    LogisticFit fit;
    EXPECT_NEAR(plcc_after_logistic(c.gt, c.pred, PlccDirection::kOfficial, &fit),
                r["plcc_official"].get<double>(), kTolerance);
    EXPECT_NEAR(plcc_after_logistic(c.gt, c.pred, PlccDirection::kConventional),
                r["plcc_conventional"].get<double>(), kTolerance);
    worst_plcc =
        std::max({worst_plcc,
                  std::fabs(plcc_after_logistic(c.gt, c.pred, PlccDirection::kOfficial) -
                            r["plcc_official"].get<double>()),
                  std::fabs(plcc_after_logistic(c.gt, c.pred, PlccDirection::kConventional) -
                            r["plcc_conventional"].get<double>())});
    worst_rank = std::max({worst_rank, std::fabs(spearman(c.gt, c.pred) - r["srcc"].get<double>()),
                           std::fabs(kendall_tau_b(c.gt, c.pred) - r["krcc"].get<double>())});
  }
  std::printf("largest |ours - scipy|: PLCC %.3g, SRCC/KRCC %.3g\n", worst_plcc, worst_rank);
}

TEST(EnsembleMetrics, KendallCountsTiesLikeTauB) {
  // Hand-countable: pairs (x,y) = (1,1),(1,2),(2,2),(3,1). Concordant: (1,1)-(2,2) only → 1;
  // discordant: (1,2)-(3,1), (2,2)-(3,1) → 2; x-tied 1 pair, y-tied 2 pairs, none tied in both.
  // tau_b = (1 - 2) / sqrt((6 - 1) * (6 - 2)).
  const std::vector<double> x{1, 1, 2, 3}, y{1, 2, 2, 1};
  EXPECT_NEAR(kendall_tau_b(x, y), -1.0 / std::sqrt(20.0), 1e-15);
}

TEST(EnsembleMetrics, AccuracyBinarisesBothSidesAtOneHalf) {
  EXPECT_DOUBLE_EQ(element_accuracy({0.5, 0.49, 1.0, 0.0}, {0.5, 0.51, 0.2, 0.0}), 0.5);
  EXPECT_TRUE(std::isnan(element_accuracy({}, {})));
}

TEST(EnsembleMetrics, ConstantPredictionGivesNaNCorrelations) {
  const std::vector<double> gt{1, 2, 3, 4}, flat{3, 3, 3, 3};
  EXPECT_TRUE(std::isnan(spearman(gt, flat)));
  EXPECT_TRUE(std::isnan(plcc_after_logistic(flat, gt, PlccDirection::kOfficial)));
}

TEST(EnsembleMetrics, FinalIsTheChallengeWeighting) {
  EXPECT_DOUBLE_EQ(challenge_final(0.8, 0.9, 0.7), 0.8 / 4 + 0.9 / 4 + 0.7 / 2);
}

}  // namespace
}  // namespace tokenfocus::ensemble
