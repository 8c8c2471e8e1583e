// The distributed bookkeeping of the loss: sums and counts over ranks through a ScoreGatherer, and
// the gradient scaling that makes DDP's gradient AVERAGE equal the single-process gradient.
#pragma once

#include <torch/torch.h>

#include "losses/score_gatherer.h"

namespace tokenfocus::losses {

// Rows of every rank in rank order ([n,C] float64); the local rows themselves without a gatherer.
torch::Tensor gather_rows(ScoreGatherer* gatherer, const torch::Tensor& local);

// Element-wise sum over ranks of a vector [C] (returned as float64 [C] on `local`'s device) and,
// for column `offset_column`, the sum over the ranks BEFORE this one (the offset of this rank's
// rows in the gathered order).
struct RankSums {
  torch::Tensor global;  // [C]
  torch::Tensor before;  // [C]: Σ over ranks < this rank
};
RankSums sum_over_ranks(ScoreGatherer* gatherer, const torch::Tensor& local);

inline int world_size_of(const ScoreGatherer* gatherer) {
  return gatherer ? gatherer->world_size() : 1;
}

// A term whose VALUE is `term` but whose gradient is `factor` times its gradient. Used for terms
// every rank computes on the gathered batch (PLCC): each rank's gradient covers only its own rows,
// so scaling by the world size undoes DDP's division.
torch::Tensor with_gradient_scale(const torch::Tensor& term, double factor);

}  // namespace tokenfocus::losses
