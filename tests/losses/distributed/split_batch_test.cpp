// Run under mpirun -np 1|2|3. Every rank builds the same global batch, computes the single-process
// loss on all of it, then the loss on its own slice with a raw-MPI ScoreGatherer, and checks:
//   - every reported term equals the single-process one;
//   - the mean over ranks of the per-rank objective equals the single-process total;
//   - the mean over ranks of the LM-head gradient (what DDP's all-reduce computes) equals the
//     single-process gradient, and each rank's hidden-state gradient / world size equals the
//     single-process gradient of its rows (what the backbone parameters then receive).
// The C API only: Open MPI's deprecated C++ bindings need a library we do not link.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "losses/tf_ps_loss.h"

namespace tl = tokenfocus::losses;

namespace {

// The ScoreGatherer the trainer would provide, written with raw MPI_Allgatherv.
class MpiGatherer : public tl::ScoreGatherer {
 public:
  torch::Tensor all_gather_rows(const torch::Tensor& local) override {
    const auto rows = local.to(torch::kFloat64).contiguous();
    const int columns = static_cast<int>(rows.size(1));
    const int count = static_cast<int>(rows.numel());
    std::vector<int> counts(world_size()), displs(world_size(), 0);
    MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
    int total = 0;
    for (int r = 0; r < world_size(); ++r) displs[r] = total, total += counts[r];
    auto out = torch::empty({total / std::max(columns, 1), columns}, torch::kFloat64);
    MPI_Allgatherv(rows.data_ptr<double>(), count, MPI_DOUBLE, out.data_ptr<double>(),
                   counts.data(), displs.data(), MPI_DOUBLE, MPI_COMM_WORLD);
    return out;
  }
  int world_size() const override {
    int n = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    return n;
  }
  int rank() const override {
    int r = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
  }
};

struct GlobalBatch {
  torch::Tensor hidden, weight;
  tl::QuestionTargets targets;
  tl::LabelHead overall = tl::LabelHead::from_vectors({3, 4, 5, 6, 7}, {1, 2, 3, 4, 5});
  tl::LabelHead element = tl::LabelHead::from_vectors({9, 10}, {1, 0});
};

// 8 questions: overall rows 0,1,3,4,6,7 and element rows 2,5 (so the 3/3/2 split leaves rank 2
// without element questions); row 4 has an unknown MOS.
GlobalBatch make_batch(torch::Dtype dtype, uint64_t seed) {
  torch::manual_seed(seed);
  GlobalBatch b;
  const int64_t q = 8;
  b.hidden = torch::randn({q, 6}, torch::kFloat64).to(dtype);
  b.weight = torch::randn({13, 6}, torch::kFloat64).to(dtype);
  b.targets.is_element = torch::tensor({0, 0, 1, 0, 0, 1, 0, 0}, torch::kBool);
  auto dist = torch::zeros({q, 5}, torch::kFloat64);
  auto token = torch::zeros({q}, torch::kInt64);
  auto value = torch::zeros({q}, torch::kFloat64);
  for (int64_t i = 0; i < q; ++i) {
    if (b.targets.is_element[i].item<bool>()) {
      const double yes = torch::rand({1}, torch::kFloat64).item<double>();
      dist[i][0] = yes;
      dist[i][1] = 1 - yes;
      token[i] = yes >= 0.5 ? 9 : 10;
      value[i] = yes;
    } else {
      const auto row = torch::softmax(2 * torch::randn({5}, torch::kFloat64), 0);
      dist[i].copy_(row);
      token[i] = 3 + row.argmax().item<int64_t>();
      value[i] = (row * torch::arange(1, 6, torch::kFloat64)).sum().item<double>();
    }
  }
  value[4] = std::numeric_limits<double>::quiet_NaN();
  // Row weights as pseudo-labels and EvalMuse flags give them: fractional, and one element row
  // filtered out (weight 0).
  b.targets.weight = torch::tensor({1.0f, 0.5f, 0.0f, 1.5f, 1.0f, 0.75f, 0.25f, 2.0f});
  b.targets.target_dist = dist.to(dtype);
  b.targets.target_token = token;
  b.targets.target_value = value;
  return b;
}

tl::QuestionTargets slice(const tl::QuestionTargets& t, int64_t start, int64_t length) {
  return {t.is_element.narrow(0, start, length), t.target_token.narrow(0, start, length),
          t.target_dist.narrow(0, start, length), t.target_value.narrow(0, start, length),
          t.weight.narrow(0, start, length)};
}

int failures = 0;
double worst_deviation = 0;  // largest relative deviation seen in the current configuration

void expect_close(const char* what, const std::string& label, double got, double want,
                  double tolerance) {
  const double deviation = std::abs(got - want) / std::max(1.0, std::abs(want));
  worst_deviation = std::max(worst_deviation, deviation);
  if (deviation <= tolerance) return;
  ++failures;
  std::fprintf(stderr, "FAIL %s [%s]: got %.17g want %.17g\n", what, label.c_str(), got, want);
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

void check_split(const std::string& label, const tokenfocus::config::LossConfig& config,
                 torch::Dtype dtype, double tolerance) {
  worst_deviation = 0;
  MpiGatherer gatherer;
  const int world = gatherer.world_size();
  const int rank = gatherer.rank();
  const auto batch = make_batch(dtype, 42);
  const tl::TfPsLoss loss(config, batch.overall, batch.element);

  // Single process on the whole batch.
  auto hidden = batch.hidden.clone().set_requires_grad(true);
  auto weight = batch.weight.clone().set_requires_grad(true);
  const auto single = loss(hidden, weight, batch.targets, nullptr);
  single.objective.backward();

  // This rank's slice: uneven splits 8 | 5,3 | 3,3,2.
  const std::vector<std::vector<int64_t>> splits = {{8}, {5, 3}, {3, 3, 2}};
  const auto& sizes = splits.at(world - 1);
  int64_t start = 0;
  for (int r = 0; r < rank; ++r) start += sizes[r];
  const int64_t length = sizes[rank];
  auto local_hidden = batch.hidden.narrow(0, start, length).clone().set_requires_grad(true);
  auto local_weight = batch.weight.clone().set_requires_grad(true);
  const auto split =
      loss(local_hidden, local_weight, slice(batch.targets, start, length), &gatherer);
  split.objective.backward();

  expect_close("total", label, split.total, single.total, tolerance);
  expect_close("tf", label, split.tf, single.tf, tolerance);
  expect_close("ps", label, split.ps, single.ps, tolerance);
  expect_close("regression", label, split.regression, single.regression, tolerance);
  expect_close("plcc", label, split.plcc, single.plcc, tolerance);
  expect_close("element", label, split.element, single.element, tolerance);
  if (split.overall_questions != 6 || split.element_questions != 2) {
    ++failures;
    std::fprintf(stderr, "FAIL counts [%s]\n", label.c_str());
  }

  // Mean over ranks of the objective = the single-process total.
  double objective = split.objective.item<double>(), objective_sum = 0;
  MPI_Allreduce(&objective, &objective_sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  expect_close("mean objective", label, objective_sum / world, single.total, tolerance);

  // DDP: all-reduce (sum) then divide by the world size.
  auto grad = local_weight.grad().to(torch::kFloat64).contiguous();
  MPI_Allreduce(MPI_IN_PLACE, grad.data_ptr<double>(), static_cast<int>(grad.numel()), MPI_DOUBLE,
                MPI_SUM, MPI_COMM_WORLD);
  grad /= world;
  const auto want_w = weight.grad().to(torch::kFloat64);
  expect_close("lm-head gradient", label,
               max_abs_diff(grad, want_w) / want_w.abs().max().item<double>(), 0.0, tolerance);
  const auto want_h = hidden.grad().narrow(0, start, length).to(torch::kFloat64);
  const auto got_h = local_hidden.grad().to(torch::kFloat64) / world;
  expect_close("hidden gradient", label,
               max_abs_diff(got_h, want_h) / hidden.grad().abs().max().item<double>(), 0.0,
               tolerance);
  double worst = 0;
  MPI_Allreduce(&worst_deviation, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0) std::printf("  %-36s worst relative deviation %.3g\n", label.c_str(), worst);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int world = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  torch::set_num_threads(1);
  if (world > 3) {
    if (rank == 0) std::fprintf(stderr, "run with 1, 2 or 3 ranks\n");
    MPI_Finalize();
    return 1;
  }

  tokenfocus::config::LossConfig all;
  all.tf_weight = 0.7;
  all.ps_weight = 1.3;
  all.regression_weight = 0.4;
  all.plcc_weight = 0.6;
  all.element_weight = 0.5;
  all.temperature = 1.5;
  auto hard = all;
  hard.soft_targets = false;
  hard.regression = "smooth_l1";
  hard.smooth_l1_beta = 0.5;
  auto plcc_only = all;
  plcc_only.tf_weight = plcc_only.ps_weight = plcc_only.regression_weight = 0;
  plcc_only.plcc_weight = 1.0;

  // Double precision: only summation order differs between the split and the whole batch.
  check_split("all terms, soft, float64", all, torch::kFloat64, 1e-12);
  check_split("hard targets, smooth-l1, float64", hard, torch::kFloat64, 1e-12);
  check_split("plcc only, float64", plcc_only, torch::kFloat64, 1e-12);
  // float32: rounding of different reduction orders, ~1e-7 relative per op.
  check_split("all terms, soft, float32", all, torch::kFloat, 1e-5);

  int all_failures = 0;
  MPI_Allreduce(&failures, &all_failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0)
    std::printf("%s: %d rank(s), 4 configurations, %d failure(s)\n",
                all_failures ? "FAILED" : "PASSED", world, all_failures);
  MPI_Finalize();
  return all_failures ? 1 : 0;
}
