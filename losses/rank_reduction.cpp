#include "losses/rank_reduction.h"

#include "common/error.h"

namespace tokenfocus::losses {

torch::Tensor gather_rows(ScoreGatherer* gatherer, const torch::Tensor& local) {
  const auto rows = local.detach().to(torch::kFloat64).contiguous();
  if (!gatherer) return rows;
  auto gathered = gatherer->all_gather_rows(rows);
  if (gathered.dim() != 2 || gathered.size(1) != rows.size(1))
    throw_internal_error("ScoreGatherer returned {} for local rows {}", c10::str(gathered.sizes()),
                         c10::str(rows.sizes()));
  return gathered.to(rows.device(), torch::kFloat64);
}

RankSums sum_over_ranks(ScoreGatherer* gatherer, const torch::Tensor& local) {
  const auto row = local.detach().to(torch::kFloat64).reshape({1, -1});
  const auto per_rank = gather_rows(gatherer, row);  // [world, C], rank order
  const int rank = gatherer ? gatherer->rank() : 0;
  if (per_rank.size(0) != world_size_of(gatherer))
    throw_internal_error("ScoreGatherer returned {} rows for {} ranks", per_rank.size(0),
                         world_size_of(gatherer));
  return {per_rank.sum(0), per_rank.narrow(0, 0, rank).sum(0)};
}

torch::Tensor with_gradient_scale(const torch::Tensor& term, double factor) {
  if (factor == 1.0) return term;
  const auto value = term.detach();
  return value + factor * (term - value);
}

}  // namespace tokenfocus::losses
