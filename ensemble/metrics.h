// The NTIRE 2025 Track 1 metrics on plain vectors, computed exactly as scipy does them in the
// official evaluate.py (DYEvaLab/EvalMuse, NTIRE2025/Track1_Alignment): Spearman, Pearson after a
// 4-parameter logistic fit, Kendall tau-b, RMSE and element accuracy; final = SRCC/4 + PLCC/4 +
// acc/2. Torch-free so that the trainer (per-epoch evaluation) and the ensemble share one
// definition.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ensemble/logistic_fit.h"

namespace tokenfocus::ensemble {

// Ranks 1..n with ties given their average rank (scipy.stats.rankdata, method="average").
std::vector<double> average_ranks(const std::vector<double>& values);

// scipy.stats.pearsonr(x, y)[0]; NaN when either side is constant (as scipy).
double pearson(const std::vector<double>& x, const std::vector<double>& y);
// scipy.stats.spearmanr(x, y)[0]: Pearson of the average ranks.
double spearman(const std::vector<double>& x, const std::vector<double>& y);
// scipy.stats.kendalltau(x, y)[0] (tau-b, ties corrected), O(n log n).
double kendall_tau_b(const std::vector<double>& x, const std::vector<double>& y);
// sqrt(mean((x - y)^2)), symmetric (sklearn mean_squared_error then sqrt).
double rmse(const std::vector<double>& x, const std::vector<double>& y);

// Which way the logistic is fitted before PLCC.
//  kOfficial: as evaluate.py really runs it: compute_metrics(y_pred=ground_truth, y=prediction), so
//    the curve maps ground truth -> prediction, β0 = [max(pred), min(pred), mean(gt), std(gt)], and
//    PLCC = pearson(prediction, f(ground_truth)).
//  kConventional: the textbook direction (prediction -> ground truth).
enum class PlccDirection { kOfficial, kConventional };
PlccDirection parse_plcc_direction(const std::string& name);  // "official" | "conventional"
const char* to_string(PlccDirection direction);

// PLCC after the logistic fit (see PlccDirection). `fit` (optional) receives the fit's details.
double plcc_after_logistic(const std::vector<double>& ground_truth,
                           const std::vector<double>& prediction, PlccDirection direction,
                           LogisticFit* fit = nullptr);
// The same fit started from `initial` instead of the official start values: for searches that
// evaluate many nearby predictions (blend weights), where the previous optimum is a far closer
// start. Reported metrics always use the official start (the overload above).
double plcc_after_logistic(const std::vector<double>& ground_truth,
                           const std::vector<double>& prediction, PlccDirection direction,
                           const LogisticParams& initial, LogisticFit* fit = nullptr);

// Element accuracy: both sides binarised at >= 0.5, fraction equal. NaN when there are no elements.
double element_accuracy(const std::vector<double>& ground_truth,
                        const std::vector<double>& prediction);

// Everything the leaderboard shows for one set of predictions.
struct Metrics {
  double srcc = 0;
  double plcc = 0;
  double krcc = 0;
  double rmse = 0;
  double acc = 0;    // NaN when there are no elements
  double final = 0;  // srcc/4 + plcc/4 + acc/2 (with acc = NaN the final is NaN, as the script)
  bool logistic_converged = true;
};

// The challenge score from its parts.
inline double challenge_final(double srcc, double plcc, double acc) {
  return srcc * 0.25 + plcc * 0.25 + acc * 0.5;
}

// All metrics for overall scores (gt, pred) and flattened element probabilities (gt, pred).
Metrics compute_metrics(const std::vector<double>& score_gt, const std::vector<double>& score_pred,
                        const std::vector<double>& element_gt,
                        const std::vector<double>& element_pred, PlccDirection direction);

}  // namespace tokenfocus::ensemble
