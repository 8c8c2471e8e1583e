#include "losses/tf_ps_loss.h"

#include <algorithm>
#include <utility>

#include "common/error.h"
#include "losses/focus_logits.h"
#include "losses/plcc_term.h"
#include "losses/position_specific_term.h"
#include "losses/rank_reduction.h"
#include "losses/token_focus_term.h"

namespace tokenfocus::losses {

// Per-rank sums of one head's per-row losses (attached to the graph) and its known-target scores.
struct TfPsLoss::HeadSums {
  torch::Tensor tf, ps, regression;  // scalars (0 when the term is off)
  int64_t rows = 0;
  int64_t known = 0;            // rows with a known target value
  double weight = 0;            // sum of the rows' weights (= rows when no weights are given)
  double known_weight = 0;      // the same over the rows with a known target value
  torch::Tensor known_scores;   // [known] ŝ, attached (only when asked for)
  torch::Tensor known_targets;  // [known]
};

// The LM head applied ONCE to all query rows (one dense [V,H] gradient however many heads use it):
// the full vocabulary rows when TF is on, else only the columns of both label sets.
struct TfPsLoss::QueryLogits {
  torch::Tensor full;    // [Q,V] or undefined
  torch::Tensor labels;  // [Q, K_overall + K_element] when `full` is undefined
  bool defined() const { return full.defined() || labels.defined(); }
};

TfPsLoss::QueryLogits TfPsLoss::query_logits(const torch::Tensor& hidden,
                                             const torch::Tensor& lm_head_weight,
                                             bool with_elements) const {
  QueryLogits logits;
  const bool any_term = config_.tf_weight > 0 || config_.ps_weight > 0 ||
                        config_.regression_weight > 0 || config_.plcc_weight > 0;
  if (hidden.size(0) == 0 || !any_term) return logits;
  if (config_.tf_weight > 0) {
    logits.full = vocabulary_logits(hidden, lm_head_weight);
  } else {
    auto ids = overall_.token_ids;
    if (with_elements && element_.size() > 0)
      ids = torch::cat({ids, element_.token_ids.to(ids.device())});
    logits.labels = label_logits(hidden, lm_head_weight, ids);
  }
  return logits;
}

TfPsLoss::TfPsLoss(const config::LossConfig& config, LabelHead overall, LabelHead element)
    : config_(config),
      overall_(std::move(overall)),
      element_(std::move(element)),
      regression_kind_(regression_kind_from_name(config.regression)) {
  if (overall_.size() == 0) throw_user_error("loss: the overall label set has no labels");
}

namespace {

// One-hot rows over the label set from the hard target tokens (loss.soft_targets = false).
torch::Tensor one_hot_targets(const torch::Tensor& target_token, const LabelHead& head,
                              const char* what) {
  const auto ids = head.token_ids.to(target_token.device());
  const auto hits = target_token.view({-1, 1}).eq(ids.view({1, -1}));
  if (hits.size(0) > 0 && !hits.any(1).all().item<bool>())
    throw_internal_error("loss: a {} question's target token is not one of its labels", what);
  return hits.to(torch::kFloat);
}

}  // namespace

TfPsLoss::HeadSums TfPsLoss::head_sums(const QueryLogits& logits, const torch::Tensor& hidden,
                                       const QuestionTargets& targets, const torch::Tensor& rows,
                                       const LabelHead& head, int64_t label_offset,
                                       bool want_scores) const {
  HeadSums sums;
  sums.rows = rows.numel();
  const auto options = hidden.options().dtype(
      hidden.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat);
  const auto zero = torch::zeros({}, options);
  sums.tf = sums.ps = sums.regression = zero;
  const auto values = targets.target_value.index_select(0, rows).to(torch::kFloat64);
  const auto known_rows = torch::isnan(values).logical_not().nonzero().view({-1});
  sums.known = known_rows.numel();
  const auto weights = targets.weight.defined()
                           ? targets.weight.index_select(0, rows).to(options.dtype())
                           : torch::ones({sums.rows}, options);
  if (sums.rows > 0 && weights.lt(0).any().item<bool>())
    throw_internal_error("loss: a question has a negative weight");
  sums.weight = weights.sum().item<double>();
  const auto known_weights = weights.index_select(0, known_rows.to(weights.device()));
  sums.known_weight = known_weights.sum().item<double>();
  const bool need_scores = config_.regression_weight > 0 || want_scores;
  if (sums.rows == 0 || !logits.defined() ||
      (config_.tf_weight == 0 && config_.ps_weight == 0 && !need_scores)) {
    sums.known_scores = torch::zeros({0}, options);
    sums.known_targets = torch::zeros({0}, torch::kFloat64);
    return sums;
  }

  const auto ids = head.token_ids.to(hidden.device());
  const int64_t k = head.size();
  const auto target_token = targets.target_token.index_select(0, rows);
  if (targets.target_dist.size(1) < k)
    throw_internal_error("loss: target distribution has {} columns, the label set {} labels",
                         targets.target_dist.size(1), k);
  const auto dist =
      config_.soft_targets
          ? targets.target_dist.index_select(0, rows).narrow(1, 0, k)
          : one_hot_targets(target_token, head, &head == &element_ ? "element" : "overall");

  torch::Tensor labels;  // [n,K] logits at the label positions
  if (logits.full.defined()) {
    const auto full = logits.full.index_select(0, rows);
    sums.tf = ((config_.soft_targets ? token_focus_soft_rows(full, ids, dist)
                                     : token_focus_hard_rows(full, target_token)) *
               weights)
                  .sum();
    labels = full.index_select(1, ids);
  } else {
    labels = logits.labels.index_select(0, rows).narrow(1, label_offset, k);
  }
  if (config_.ps_weight > 0)
    sums.ps = (position_specific_rows(labels, dist, config_.temperature) * weights).sum();
  if (need_scores) {
    const auto q = label_log_distribution(labels, config_.temperature).exp();
    const auto score = expected_score(q, head.values).index_select(0, known_rows);
    sums.known_scores = score;
    sums.known_targets = values.index_select(0, known_rows);
    if (config_.regression_weight > 0)
      sums.regression =
          (regression_rows(score, sums.known_targets, regression_kind_, config_.smooth_l1_beta) *
           known_weights)
              .sum();
  } else {
    sums.known_scores = torch::zeros({0}, options);
    sums.known_targets = torch::zeros({0}, torch::kFloat64);
  }
  return sums;
}

LossTerms TfPsLoss::operator()(const torch::Tensor& hidden, const torch::Tensor& lm_head_weight,
                               const QuestionTargets& targets, ScoreGatherer* gatherer) const {
  const int64_t q = hidden.size(0);
  if (hidden.dim() != 2 || targets.is_element.numel() != q || targets.target_token.numel() != q ||
      targets.target_value.numel() != q || targets.target_dist.dim() != 2 ||
      (targets.weight.defined() && targets.weight.numel() != q) || targets.target_dist.size(0) != q)
    throw_internal_error("loss: {} query rows but targets of {} / {} / {} / {} rows", q,
                         targets.is_element.numel(), targets.target_token.numel(),
                         c10::str(targets.target_dist.sizes()), targets.target_value.numel());
  const auto is_element = targets.is_element.to(torch::kBool);
  const auto overall_rows = is_element.logical_not().nonzero().view({-1});
  const auto element_rows = is_element.nonzero().view({-1});
  const bool with_elements = config_.element_weight > 0;
  if (with_elements && element_rows.numel() > 0 && element_.size() == 0)
    throw_user_error("loss: the batch has element questions but the element label set is empty");

  const bool with_plcc = config_.plcc_weight > 0;
  const auto logits = query_logits(hidden, lm_head_weight, with_elements);
  const auto overall = head_sums(logits, hidden, targets, overall_rows, overall_, 0, with_plcc);
  HeadSums element;
  if (with_elements) {
    element = head_sums(logits, hidden, targets, element_rows, element_, overall_.size(), false);
  } else {
    element.tf = element.ps = element.regression = torch::zeros({}, overall.tf.options());
  }

  // Global counts and weight sums, and this rank's offset among the gathered overall scores.
  const auto counts = sum_over_ranks(
      gatherer, torch::tensor({static_cast<double>(overall.rows), static_cast<double>(element.rows),
                               static_cast<double>(overall.known), overall.weight, element.weight,
                               overall.known_weight, element.known_weight},
                              torch::kFloat64));
  const auto global_counts = counts.global.to(torch::kCPU);
  const double n_overall = global_counts[0].item<double>();
  const double n_element = global_counts[1].item<double>();
  const double w_overall = global_counts[3].item<double>();
  const double w_element = global_counts[4].item<double>();
  const double w_overall_known = global_counts[5].item<double>();
  const double w_element_known = global_counts[6].item<double>();
  const int64_t known_offset = static_cast<int64_t>(counts.before[2].item<double>());

  // Weighted means over the GLOBAL batch (plain means when every weight is 1), times the world
  // size: DDP divides the summed gradients by it.
  const double world = world_size_of(gatherer);
  auto per_weight = [&](double w) { return w > 0 ? world / w : 0.0; };
  const double a = config_.tf_weight, b = config_.ps_weight, g = config_.regression_weight;
  const double we = config_.element_weight;
  auto objective =
      a * per_weight(w_overall) * overall.tf + b * per_weight(w_overall) * overall.ps +
      g * per_weight(w_overall_known) * overall.regression +
      we * (a * per_weight(w_element) * element.tf + b * per_weight(w_element) * element.ps +
            g * per_weight(w_element_known) * element.regression);

  LossTerms terms;
  if (with_plcc) {
    // Every rank sees all scores; only its own slice carries a gradient, scaled by the world size.
    const auto local = torch::stack({overall.known_scores.detach().to(torch::kFloat64),
                                     overall.known_targets.to(torch::kFloat64)},
                                    1);
    const auto all = gather_rows(gatherer, local);
    const int64_t n = all.size(0);
    const auto scores = torch::cat(
        {all.narrow(0, 0, known_offset).select(1, 0), overall.known_scores.to(torch::kFloat64),
         all.narrow(0, known_offset + overall.known, n - known_offset - overall.known)
             .select(1, 0)});
    const auto plcc = plcc_loss(scores, all.select(1, 1), config_.plcc_epsilon);
    terms.plcc = plcc.item<double>();
    objective =
        objective + config_.plcc_weight * with_gradient_scale(plcc, world).to(objective.dtype());
  }
  // Keeps every input in the graph even when this rank has no rows of some kind, so a gradient
  // reducer waiting for every parameter's gradient never waits for ever. The LM head is anchored
  // only when no term read it: each extra path to it costs a dense [V,H] gradient (2 GB for Qwen2).
  objective = objective + 0.0 * hidden.sum();
  if (!logits.defined()) objective = objective + 0.0 * lm_head_weight.narrow(0, 0, 1).sum();
  terms.objective = objective;

  const auto sums =
      sum_over_ranks(gatherer, torch::stack({overall.tf.detach(), overall.ps.detach(),
                                             overall.regression.detach(), element.tf.detach(),
                                             element.ps.detach(), element.regression.detach()})
                                   .to(torch::kFloat64))
          .global.to(torch::kCPU);
  auto mean = [](double sum, double n) { return n > 0 ? sum / n : 0.0; };
  terms.tf = mean(sums[0].item<double>(), w_overall);
  terms.ps = mean(sums[1].item<double>(), w_overall);
  terms.regression = mean(sums[2].item<double>(), w_overall_known);
  terms.element_tf = mean(sums[3].item<double>(), w_element);
  terms.element_ps = mean(sums[4].item<double>(), w_element);
  terms.element_regression = mean(sums[5].item<double>(), w_element_known);
  terms.element = a * terms.element_tf + b * terms.element_ps + g * terms.element_regression;
  terms.total = a * terms.tf + b * terms.ps + g * terms.regression +
                config_.plcc_weight * terms.plcc + we * terms.element;
  terms.overall_questions = static_cast<int64_t>(n_overall);
  terms.element_questions = static_cast<int64_t>(n_element);
  return terms;
}

}  // namespace tokenfocus::losses
