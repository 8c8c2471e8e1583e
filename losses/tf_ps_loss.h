// The TF+PS loss of DESIGN.md §4 over the query rows of a (local) batch; formulas, normalisation
// and the distributed semantics are in docs/losses.md.
//
//   total = α·TF + β·PS + γ·REG + δ·PLCC + w_e·(α·TF_e + β·PS_e + γ·REG_e)
//
// TF/PS/REG are means over the GLOBAL batch's overall questions (REG over those with a known MOS),
// weighted by the targets' row weights when given, the _e terms the same over element questions,
// PLCC is 1 − Pearson(ŝ, MOS) over all overall questions of all ranks. A term whose weight is 0 is
// not computed and reads 0.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "common/config/sections/loss.h"
#include "losses/label_head.h"
#include "losses/question_targets.h"
#include "losses/regression_term.h"
#include "losses/score_gatherer.h"

namespace tokenfocus::losses {

struct LossTerms {
  // What THIS rank calls backward() on. Its mean over ranks equals `total`, and the mean over ranks
  // of its gradients (what the gradient reducer computes) equals the gradient of the
  // single-process loss on the concatenated batch, for any split of the batch.
  torch::Tensor objective;
  // Values on the global batch, identical on every rank (for logging).
  double total = 0, tf = 0, ps = 0, regression = 0, plcc = 0;
  double element = 0;  // α·TF_e + β·PS_e + γ·REG_e (enters total with weight w_e)
  double element_tf = 0, element_ps = 0, element_regression = 0;
  int64_t overall_questions = 0, element_questions = 0;  // global counts

  // The logged values by name (total, tf, ps, ..., element_questions), e.g. for metrics lines.
  std::vector<std::pair<std::string, double>> named_values() const {
    return {{"total", total},
            {"tf", tf},
            {"ps", ps},
            {"regression", regression},
            {"plcc", plcc},
            {"element", element},
            {"element_tf", element_tf},
            {"element_ps", element_ps},
            {"element_regression", element_regression},
            {"overall_questions", static_cast<double>(overall_questions)},
            {"element_questions", static_cast<double>(element_questions)}};
  }
};

class TfPsLoss {
 public:
  // `overall` is the label head of overall questions ("1".."5"), `element` that of element
  // questions (yes/no); an element head with no labels is allowed when the batch has no elements.
  TfPsLoss(const config::LossConfig& config, LabelHead overall, LabelHead element);

  // hidden [Q,H]: the query rows' final hidden states; lm_head_weight [V,H]; targets per row.
  // gatherer: the other ranks (nullptr = single process).
  LossTerms operator()(const torch::Tensor& hidden, const torch::Tensor& lm_head_weight,
                       const QuestionTargets& targets, ScoreGatherer* gatherer = nullptr) const;

  const config::LossConfig& config() const { return config_; }

 private:
  struct HeadSums;
  struct QueryLogits;
  QueryLogits query_logits(const torch::Tensor& hidden, const torch::Tensor& lm_head_weight,
                           bool with_elements) const;
  HeadSums head_sums(const QueryLogits& logits, const torch::Tensor& hidden,
                     const QuestionTargets& targets, const torch::Tensor& rows,
                     const LabelHead& head, int64_t label_offset, bool want_scores) const;

  config::LossConfig config_;
  LabelHead overall_;
  LabelHead element_;
  RegressionKind regression_kind_;
};

}  // namespace tokenfocus::losses
