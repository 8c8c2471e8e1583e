// PLCC term: 1 − Pearson(ŝ, y) over a whole (globally gathered) batch.
//   r = c_sy / sqrt((v_s + ε)(v_y + ε)),  c_sy = mean((s − s̄)(y − ȳ)),  v = mean((· − mean)²)
// ε (loss.plcc_epsilon, default 1e-6 score²) keeps a batch of identical scores finite: r = 0, the
// term is 1 and its gradient (y_i − ȳ)/(N·sqrt(ε(v_y + ε))) is finite and still points towards
// correlating with y. For realistic spreads (v ≳ 1e-2) ε changes r by < 1e-4 relative.
#pragma once

#include <torch/torch.h>

namespace tokenfocus::losses {

// score [N], target [N] -> scalar r (differentiable in score).
torch::Tensor pearson_correlation(const torch::Tensor& score, const torch::Tensor& target,
                                  double epsilon);

// 1 − r.
torch::Tensor plcc_loss(const torch::Tensor& score, const torch::Tensor& target, double epsilon);

}  // namespace tokenfocus::losses
