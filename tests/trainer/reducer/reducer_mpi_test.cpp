// Multi-rank tests of the gradient reducer, run under mpirun (2 and 3 ranks): a data-parallel run
// must end with the parameters of the same run on one process, with SGD and with AdamW. Every rank
// computes the single-process references itself (same seed, the whole global batch), so one
// mpirun checks all three ways of reaching the same global batch:
//   W ranks x micro-batch b  ==  1 process x batch W*b  ==  1 process x W accumulation steps.
// With 3 ranks the global batch (10 samples) does not divide evenly: ranks get 4, 3, 3 samples.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "common/error.h"
#include "trainer/checkpoint.h"
#include "trainer/communicator.h"
#include "trainer/gradient_reducer.h"
#include "trainer/optimizer.h"

namespace tf = tokenfocus;
using namespace tokenfocus::trainer;

namespace {

Communicator* g_comm = nullptr;

struct MlpImpl : torch::nn::Module {
  MlpImpl() {
    fc1 = register_module("fc1", torch::nn::Linear(8, 32));
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({32})));
    fc2 = register_module("fc2", torch::nn::Linear(32, 16));
    head = register_module("head", torch::nn::Linear(16, 1));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return head(torch::tanh(fc2(torch::gelu(norm(fc1(x)))))).squeeze(-1);
  }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr}, head{nullptr};
  torch::nn::LayerNorm norm{nullptr};
};
TORCH_MODULE(Mlp);

// Same weights on every rank and in every reference copy.
Mlp make_model() {
  torch::manual_seed(1234);
  return Mlp();
}

struct Data {
  torch::Tensor x, y;
};
Data make_data(int64_t n) {
  auto generator = torch::make_generator<at::CPUGeneratorImpl>(99);
  return {torch::randn({n, 8}, generator), torch::randn({n}, generator)};
}

// Per-sample loss summed over rows [first, first + count).
torch::Tensor loss_sum(Mlp& model, const Data& data, int64_t first, int64_t count) {
  auto x = data.x.narrow(0, first, count);
  auto y = data.y.narrow(0, first, count);
  return (model->forward(x) - y).pow(2).sum();
}

// Rows of the global batch for each rank: as even as possible, the first ranks one larger.
std::vector<std::pair<int64_t, int64_t>> split(int64_t global, int world) {
  std::vector<std::pair<int64_t, int64_t>> parts;
  int64_t first = 0;
  for (int r = 0; r < world; ++r) {
    const int64_t count = global / world + (r < global % world ? 1 : 0);
    parts.push_back({first, count});
    first += count;
  }
  return parts;
}

enum class Optim { kSgd, kAdamW };
constexpr double kLr = 0.05;
constexpr int kSteps = 5;

void apply_update(const std::vector<NamedParameter>& params, Optim kind, AdamW& adamw) {
  if (kind == Optim::kAdamW) {
    adamw.step(kLr);
    return;
  }
  torch::NoGradGuard no_grad;
  for (const auto& p : params) p.tensor.detach().add_(p.tensor.grad(), -kLr);
}

AdamWOptions adamw_options() {
  return {0.9, 0.999, 1e-8, 0.01};
}

// The data-parallel run: this rank's share of each global batch, `accum` micro-steps per step.
std::vector<torch::Tensor> distributed_run(Optim kind, int64_t global_batch, int accum,
                                           double bucket_mb, int64_t* all_reduces = nullptr) {
  auto& comm = *g_comm;
  auto model = make_model();
  auto params = trainable_parameters(*model);
  GradientReducer reducer(comm, params, bucket_mb, "hash");
  reducer.broadcast_parameters();
  AdamW adamw(params, adamw_options());
  const auto data = make_data(global_batch * kSteps);
  const auto mine = split(global_batch, comm.world_size())[comm.rank()];
  for (int step = 0; step < kSteps; ++step) {
    reducer.zero_grad();
    const auto micro = split(mine.second, accum);
    for (int m = 0; m < accum; ++m) {
      reducer.set_sync(m + 1 == accum);
      // Each rank's loss is its summed loss over the global batch size times the world size: the
      // reducer's average then yields the global mean.
      const auto loss =
          loss_sum(model, data, step * global_batch + mine.first + micro[m].first,
                   micro[m].second) *
          (static_cast<double>(comm.world_size()) / static_cast<double>(global_batch));
      loss.backward();
      if (all_reduces && m + 1 < accum) {
        // No bucket may have started on a micro-step.
        for (const auto& bucket : reducer.buckets()) EXPECT_EQ(bucket.work, nullptr);
      }
    }
    reducer.finish_backward();
    if (all_reduces) *all_reduces += static_cast<int64_t>(reducer.buckets().size());
    apply_update(params, kind, adamw);
  }
  std::vector<torch::Tensor> out;
  for (const auto& p : params) out.push_back(p.tensor.detach().clone());
  return out;
}

// One process: the whole global batch per step, in `accum` micro-steps (1 = one full batch).
std::vector<torch::Tensor> single_process_run(Optim kind, int64_t global_batch, int accum) {
  auto model = make_model();
  auto params = trainable_parameters(*model);
  AdamW adamw(params, adamw_options());
  const auto data = make_data(global_batch * kSteps);
  for (int step = 0; step < kSteps; ++step) {
    for (auto& p : params) p.tensor.mutable_grad() = torch::zeros_like(p.tensor);
    for (const auto& [first, count] : split(global_batch, accum))
      (loss_sum(model, data, step * global_batch + first, count) /
       static_cast<double>(global_batch))
          .backward();
    apply_update(params, kind, adamw);
  }
  std::vector<torch::Tensor> out;
  for (const auto& p : params) out.push_back(p.tensor.detach().clone());
  return out;
}

// max |a - b| / max(max |b|, tiny), over all parameters.
double relative_difference(const std::vector<torch::Tensor>& a,
                           const std::vector<torch::Tensor>& b) {
  double diff = 0, scale = 1e-30;
  for (size_t k = 0; k < a.size(); ++k) {
    diff = std::max(diff, (a[k] - b[k]).abs().max().item<double>());
    scale = std::max(scale, b[k].abs().max().item<double>());
  }
  return diff / scale;
}

int64_t global_batch_for_world(int world) {
  return world == 3 ? 10 : 4 * world;
}

// SGD: parameters are a sum of float32 gradients; only summation order differs between the runs
// (per-rank partial sums vs one sum), a few ulps of float32 per step: relative 1e-5 is ample.
TEST(GradientReducer, SgdMatchesSingleProcessFullBatchAndAccumulation) {
  const int world = g_comm->world_size();
  const int64_t global = global_batch_for_world(world);
  const auto distributed = distributed_run(Optim::kSgd, global, 1, 0.001);
  const auto full = single_process_run(Optim::kSgd, global, 1);
  const auto accumulated = single_process_run(Optim::kSgd, global, world);
  EXPECT_LE(relative_difference(distributed, full), 1e-5);
  EXPECT_LE(relative_difference(distributed, accumulated), 1e-5);
}

// AdamW: the update m/(sqrt(v)+eps) divides by the gradient's own magnitude, so a relative change
// e of a gradient component moves the update by about lr*e, and components whose gradient is near
// zero (|g| ~ eps) can move by up to lr*O(1) relative to their tiny size. Over 5 steps the
// parameters stay within steps*lr*1e-4 absolute (measured: see the log line), i.e. relative
// 1e-4 of the parameter scale (~0.3) is a bound with room, yet 100x below a single wrong update.
TEST(GradientReducer, AdamWMatchesSingleProcessWithinJustifiedTolerance) {
  const int world = g_comm->world_size();
  const int64_t global = global_batch_for_world(world);
  const auto distributed = distributed_run(Optim::kAdamW, global, 1, 0.001);
  const auto full = single_process_run(Optim::kAdamW, global, 1);
  const auto accumulated = single_process_run(Optim::kAdamW, global, world);
  const double to_full = relative_difference(distributed, full);
  const double to_accumulated = relative_difference(distributed, accumulated);
  if (g_comm->rank() == 0)
    std::printf("AdamW relative difference: vs full batch %.3g, vs accumulation %.3g\n", to_full,
                to_accumulated);
  EXPECT_LE(to_full, 1e-4);
  EXPECT_LE(to_accumulated, 1e-4);
}

// Accumulation on the ranks too: 2 micro-steps per rank, collectives only on the last one.
TEST(GradientReducer, AccumulationMicroStepsIssueNoCollectives) {
  const int world = g_comm->world_size();
  const int64_t global = global_batch_for_world(world);
  int64_t all_reduces = 0;
  const auto distributed = distributed_run(Optim::kSgd, global, 2, 0.001, &all_reduces);
  const auto full = single_process_run(Optim::kSgd, global, 1);
  EXPECT_LE(relative_difference(distributed, full), 1e-5);
  // Several buckets at 1 KiB for this MLP: one all-reduce per bucket per optimizer step.
  auto model = make_model();
  GradientReducer probe(*g_comm, trainable_parameters(*model), 0.001, "hash");
  EXPECT_GT(probe.buckets().size(), 1u);
  EXPECT_EQ(all_reduces, kSteps * static_cast<int64_t>(probe.buckets().size()));
}

TEST(GradientReducer, BucketsAreReverseOrderAndGradientsAreViews) {
  auto model = make_model();
  auto params = trainable_parameters(*model);
  GradientReducer reducer(*g_comm, params, 25.0, "hash");
  ASSERT_EQ(reducer.buckets().size(), 1u);
  const auto& bucket = reducer.buckets()[0];
  EXPECT_EQ(bucket.parameters.front(), params.size() - 1);  // head.bias first
  EXPECT_EQ(bucket.parameters.back(), 0u);                  // fc1.weight last
  for (const auto& p : params) EXPECT_TRUE(p.tensor.grad().is_alias_of(bucket.buffer)) << p.name;
}

// A parameter unused on one rank only (data-dependent graph) must not desynchronise the ranks.
TEST(GradientReducer, UnusedParameterOnOneRankStillReducesEveryBucket) {
  auto model = make_model();
  auto params = trainable_parameters(*model);
  GradientReducer reducer(*g_comm, params, 0.001, "hash");
  reducer.broadcast_parameters();
  const auto data = make_data(8);
  reducer.zero_grad();
  torch::Tensor loss;
  if (g_comm->rank() == 0) {
    loss = loss_sum(model, data, 0, 4);
  } else {  // the head is skipped: its gradients stay zero here
    loss =
        torch::tanh(model->fc2(torch::gelu(model->norm(model->fc1(data.x.narrow(0, 0, 4)))))).sum();
  }
  loss.backward();
  reducer.finish_backward();
  // head.weight's gradient is rank 0's divided by the world size.
  auto reference = make_model();
  loss_sum(reference, data, 0, 4).backward();
  const auto expected = reference->head->weight.grad() / static_cast<double>(g_comm->world_size());
  EXPECT_TRUE(torch::allclose(model->head->weight.grad(), expected, 1e-5, 1e-7));
}

TEST(RankAgreement, DifferentConfigHashNamesTheRank) {
  auto model = make_model();
  const std::string hash = g_comm->rank() == 1 ? "bbbb" : "aaaa";
  try {
    GradientReducer reducer(*g_comm, trainable_parameters(*model), 25.0, hash);
    FAIL() << "expected a UserError";
  } catch (const tf::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("rank 1 has config hash bbbb but rank 0 has aaaa"),
              std::string::npos)
        << e.what();
  }
}

TEST(RankAgreement, DifferentLayoutNamesTheParameter) {
  auto model = make_model();
  auto params = trainable_parameters(*model);
  if (g_comm->rank() == 1) params[2].name = "fc9.weight";
  try {
    verify_ranks_agree(*g_comm, "same", params);
    FAIL() << "expected a UserError";
  } catch (const tf::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("rank 1 parameter #2 is 'fc9.weight"), std::string::npos)
        << e.what();
  }
}

TEST(Communicator, AllGatherRowsOfDifferentLengths) {
  const int rank = g_comm->rank();
  auto rows = torch::full({rank + 1, 2}, static_cast<float>(rank));
  const auto gathered = g_comm->all_gather_rows(rows);
  int64_t expected_rows = 0;
  for (int r = 0; r < g_comm->world_size(); ++r) expected_rows += r + 1;
  ASSERT_EQ(gathered.size(0), expected_rows);
  EXPECT_EQ(gathered[expected_rows - 1][1].item<float>(),
            static_cast<float>(g_comm->world_size() - 1));
  EXPECT_TRUE(g_comm->any(rank == g_comm->world_size() - 1));
  EXPECT_FALSE(g_comm->any(false));
}

// Every size class the collectives see (a 1-element flag, counts below and not divisible by the
// rank count, a multi-MiB bucket), in place, summed and averaged: exact integer-valued results,
// whatever algorithm Open MPI's non-blocking all-reduce is configured to use.
TEST(Communicator, AllReduceIsExactForEverySizeClass) {
  const int rank = g_comm->rank(), n = g_comm->world_size();
  for (const int64_t count : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{7}, int64_t{4099},
                              int64_t{(5 << 20) / 4 + 3}}) {
    const auto index = torch::arange(count, torch::kDouble);
    // Rank r contributes (r + 1) * (i mod 97): the sum is (i mod 97) * n(n+1)/2, exact in float.
    auto summed = (index.fmod(97) * (rank + 1)).to(torch::kFloat);
    g_comm->all_reduce_async(summed, ReduceOp::kSum)->wait();
    const auto expected = (index.fmod(97) * (n * (n + 1) / 2)).to(torch::kFloat);
    EXPECT_TRUE(torch::equal(summed, expected)) << "sum of " << count << " elements";
    auto averaged = torch::full({count}, static_cast<float>(2 * rank));
    g_comm->all_reduce_async(averaged, ReduceOp::kAverage)->wait();
    EXPECT_TRUE(torch::allclose(averaged, torch::full({count}, static_cast<float>(n - 1)), 1e-6, 0))
        << "average of " << count << " elements";
  }
}

TEST(Checkpoints, IncompleteAndCorruptOnesAreIgnored) {
  // One folder for all ranks: named after rank 0's process id.
  const std::string dir =
      "/tmp/tokenfocus-trainer-ckpt-test-" + g_comm->all_gather_bytes(std::to_string(getpid()))[0];
  if (g_comm->rank() == 0) std::filesystem::remove_all(dir);
  g_comm->barrier();
  CheckpointStore store(dir, 5);
  auto save_step = [&](int64_t step) {
    CheckpointContents contents;
    contents.state = {0, step, step, g_comm->world_size(), "hash"};
    contents.weights = {{"w", torch::full({3}, static_cast<float>(step))}};
    contents.optimizer = {{"step", torch::tensor({step})}};
    return store.save(*g_comm, contents);
  };
  save_step(1);
  const auto second = save_step(2);
  const auto third = save_step(3);
  if (g_comm->rank() == 0) {
    std::filesystem::remove(third + "/DONE");  // interrupted before the marker
    std::fstream f(second + "/model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x7f');  // one flipped byte
  }
  g_comm->barrier();
  const auto latest = store.find_latest(*g_comm);
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(std::filesystem::path(*latest).filename(), "step-00000001");
  const auto loaded = CheckpointStore::load(*latest, g_comm->rank(), g_comm->world_size());
  EXPECT_EQ(loaded.state.optimizer_steps, 1);
  EXPECT_EQ(loaded.weights.at("w")[0].item<float>(), 1.0f);
  // keep_last: with keep 2, a fourth save leaves only the two newest complete ones.
  CheckpointStore keep_two(dir, 2);
  CheckpointContents contents;
  contents.state = {0, 4, 4, g_comm->world_size(), "hash"};
  contents.weights = {{"w", torch::zeros({3})}};
  contents.optimizer = {{"step", torch::tensor({int64_t{4}})}};
  keep_two.save(*g_comm, contents);
  if (g_comm->rank() == 0) {
    EXPECT_FALSE(std::filesystem::exists(dir + "/step-00000001"));
    EXPECT_TRUE(std::filesystem::exists(dir + "/step-00000004/DONE"));
    std::filesystem::remove_all(dir);
  }
  g_comm->barrier();
}

TEST(Communicator, NcclWithoutGpuIsAClearUserError) {
  if (!nccl_compiled_in()) GTEST_SKIP() << "built without NCCL";
  try {
    make_communicator({"nccl", 30.0});
    FAIL() << "this machine has a GPU? expected the no-device UserError";
  } catch (const tf::UserError& e) {
    EXPECT_NE(
        std::string(e.what()).find("NCCL backend needs a CUDA device; cudaGetDeviceCount returned"),
        std::string::npos)
        << e.what();
  }
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  auto comm = make_communicator({"mpi", 60.0});
  g_comm = comm.get();
  if (comm->rank() != 0) {  // one report: rank 0 prints, every rank's failures still fail the run
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS();
  const bool any_failed = comm->any(failed != 0);
  comm.reset();
  return any_failed ? 1 : 0;
}
