// Bootstrap intervals: independent of the thread count, and equal to numpy percentiles of the
// scipy metrics recomputed on the very same draws (tolerance 1e-6; PLCC 1e-5, see below).
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "common/python_reference.h"
#include "ensemble/bootstrap.h"

namespace tokenfocus::ensemble {
namespace {

void make(size_t n, EvaluationSet& truth, std::vector<AlignedPrediction>& predictions) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(1, 5);
  std::normal_distribution<double> g(0, 1);
  truth.element_offsets = {0};
  for (size_t i = 0; i < n; ++i) {
    truth.keys.push_back(std::to_string(i));
    truth.prompts.push_back("");
    truth.score.push_back(std::round(u(rng) * 3) / 3);
    for (size_t e = 0; e < i % 4; ++e) {
      truth.element.push_back(u(rng) > 3 ? 1.0 : 0.0);
      truth.element_keys.push_back("k");
      truth.element_category.push_back("c");
    }
    truth.element_offsets.push_back(truth.element.size());
  }
  predictions.resize(2);
  for (size_t m = 0; m < 2; ++m) {
    for (double s : truth.score) predictions[m].score.push_back(s + (0.4 + m) * g(rng));
    for (double e : truth.element) predictions[m].element.push_back(e + 0.5 * (m + 1) * g(rng));
  }
}

TEST(EnsembleBootstrap, SameIntervalsWhateverTheThreadCount) {
  EvaluationSet truth;
  std::vector<AlignedPrediction> predictions;
  make(150, truth, predictions);
  BootstrapOptions one{40, 9, 1, 0.95, PlccDirection::kOfficial};
  BootstrapOptions three = one;
  three.threads = 3;
  const auto a = bootstrap_metrics(truth, predictions, one);
  const auto b = bootstrap_metrics(truth, predictions, three);
  for (size_t m = 0; m < 2; ++m) {
    EXPECT_EQ(a[m].final.low, b[m].final.low);
    EXPECT_EQ(a[m].srcc.high, b[m].srcc.high);
    EXPECT_LE(a[m].final.low, a[m].final.point);
    EXPECT_GE(a[m].final.high, a[m].final.point);
  }
}

TEST(EnsembleBootstrap, MatchesNumpyPercentilesOfScipyMetricsOnTheSameDraws) {
  EvaluationSet truth;
  std::vector<AlignedPrediction> predictions;
  make(120, truth, predictions);
  const BootstrapOptions options{30, 4, 2, 0.9, PlccDirection::kOfficial};
  const auto ours = bootstrap_metrics(truth, predictions, options);
  nlohmann::json draws = nlohmann::json::array();
  for (int64_t d = 0; d < options.samples; ++d) draws.push_back(bootstrap_draw(truth.size(), 4, d));
  nlohmann::json input = {{"gt", truth.score},
                          {"offsets", truth.element_offsets},
                          {"egt", truth.element},
                          {"draws", draws},
                          {"preds", nlohmann::json::array()}};
  for (const auto& p : predictions) input["preds"].push_back({{"s", p.score}, {"e", p.element}});
  const auto reference = testing::run_reference_python(R"PY(
import scipy.stats
from scipy.optimize import curve_fit
def f(X, b1, b2, b3, b4):
    return b2 + np.divide(b1 - b2, 1 + np.exp(np.negative(np.divide(X - b3, np.abs(b4)))))
gt, off, egt = np.array(data['gt']), data['offsets'], np.array(data['egt'])
result, finals, srccs = [], [], []
for p in data['preds']:
    s, e = np.array(p['s']), np.array(p['e'])
    right = np.array([np.sum((egt[off[i]:off[i+1]] >= 0.5) == (e[off[i]:off[i+1]] >= 0.5)) for i in range(len(gt))])
    count = np.diff(off)
    srcc, plcc, final = [], [], []
    for idx in data['draws']:
        g, q = gt[idx], s[idx]
        popt, _ = curve_fit(f, g, q, p0=[q.max(), q.min(), g.mean(), g.std()], maxfev=int(1e8))
        r = scipy.stats.spearmanr(g, q)[0]; c = scipy.stats.pearsonr(q, f(g, *popt))[0]
        acc = right[idx].sum() / count[idx].sum()
        srcc.append(r); plcc.append(c); final.append(r / 4 + c / 4 + acc / 2)
    result.append({k: [float(np.percentile(v, 5)), float(np.percentile(v, 95))]
                   for k, v in (('srcc', srcc), ('plcc', plcc), ('final', final))})
    finals.append(np.array(final)); srccs.append(np.array(srcc))
# The paired difference of model 1 against model 0 on the same draws.
result.append({k: [float(np.percentile(v, 5)), float(np.percentile(v, 95))]
               for k, v in (('final', finals[1] - finals[0]), ('srcc', srccs[1] - srccs[0]))})
)PY",
                                                       input);
  // PLCC goes through the 4-parameter logistic fit, which both sides solve iteratively to the
  // optimizer's tolerance: on draws where the logistic saturates (scipy's exp overflows) the
  // optimum is flat and the fits agree to ~1e-6, not to rounding (1.1e-6 measured with scipy
  // 1.17.1's OpenBLAS on an AMD EPYC, below 1e-6 on Intel). Hence 1e-5 for PLCC; SRCC has no fit.
  for (size_t m = 0; m < 2; ++m) {
    EXPECT_NEAR(ours[m].srcc.low, reference[m]["srcc"][0].get<double>(), 1e-6);
    EXPECT_NEAR(ours[m].srcc.high, reference[m]["srcc"][1].get<double>(), 1e-6);
    EXPECT_NEAR(ours[m].plcc.low, reference[m]["plcc"][0].get<double>(), 1e-5);
    EXPECT_NEAR(ours[m].plcc.high, reference[m]["plcc"][1].get<double>(), 1e-5);
    EXPECT_NEAR(ours[m].final.low, reference[m]["final"][0].get<double>(), 1e-6);
    EXPECT_NEAR(ours[m].final.high, reference[m]["final"][1].get<double>(), 1e-6);
  }
  // Paired: percentiles of the per-draw differences, point = the difference on all rows.
  const auto paired = paired_differences(truth, predictions[0], predictions[1], options);
  EXPECT_NEAR(paired.final.low, reference[2]["final"][0].get<double>(), 1e-6);
  EXPECT_NEAR(paired.final.high, reference[2]["final"][1].get<double>(), 1e-6);
  EXPECT_NEAR(paired.srcc.low, reference[2]["srcc"][0].get<double>(), 1e-6);
  EXPECT_NEAR(paired.srcc.high, reference[2]["srcc"][1].get<double>(), 1e-6);
  EXPECT_NEAR(paired.final.point, ours[1].final.point - ours[0].final.point, 1e-12);
  // For a close variant of a prediction (an ablation's trials are), far narrower than its own
  // interval: the noise the draws share cancels.
  AlignedPrediction variant = predictions[0];
  std::mt19937_64 rng(11);
  std::normal_distribution<double> g(0, 0.05);
  for (auto& s : variant.score) s += g(rng);
  const auto close = paired_differences(truth, predictions[0], variant, options);
  EXPECT_LT(close.final.high - close.final.low, 0.5 * (ours[0].final.high - ours[0].final.low));
  // A prediction against itself differs by exactly 0 on every draw.
  const auto same = paired_differences(truth, predictions[0], predictions[0], options);
  EXPECT_EQ(same.final.low, 0.0);
  EXPECT_EQ(same.final.high, 0.0);
}

}  // namespace
}  // namespace tokenfocus::ensemble
