// ZeRO stage 1 across real ranks (mpirun, 2 and 3): the two new collectives, the shard layout,
// parity of ZeRO-1 with the DDP run (reducer + AdamW, clipping engaged, weight decay groups split
// mid-parameter by the shard blocks), 1/N optimizer state, non-finite agreement, and, through the
// real training loop, checkpoints of one file per rank that resume bit for bit and a clear error
// when a run with distributed.zero: 0 meets one.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "trainer/checkpoint.h"
#include "trainer/communicator.h"
#include "trainer/gradient_reducer.h"
#include "trainer/optimizer.h"
#include "trainer/training_loop.h"
#include "trainer/zero_optimizer.h"
#include "trainer/zero_shard_layout.h"

namespace fs = std::filesystem;
namespace tf = tokenfocus;
using namespace tokenfocus::trainer;

namespace {

Communicator* g_comm = nullptr;

// One folder for all ranks: named after rank 0's process id.
std::string shared_tmp(const std::string& name) {
  const std::string dir =
      "/tmp/tokenfocus-zero-" + name + "-" + g_comm->all_gather_bytes(std::to_string(getpid()))[0];
  if (g_comm->rank() == 0) fs::remove_all(dir);
  g_comm->barrier();
  return dir;
}

// Block counts from 1 element to a multi-MiB bucket; integer-valued data, so sums are exact.
TEST(ZeroCollectives, ReduceScatterAndAllGatherAreExact) {
  const int rank = g_comm->rank(), n = g_comm->world_size();
  for (const int64_t block : {int64_t{1}, int64_t{3}, int64_t{4099}, int64_t{(5 << 20) / 4 + 3}}) {
    const auto index = torch::arange(block * n, torch::kDouble);
    auto input = (index.fmod(97) * (rank + 1)).to(torch::kFloat);
    auto summed = torch::full({block}, -1.0f);
    g_comm->reduce_scatter_async(input, summed, ReduceOp::kSum)->wait();
    const auto expected =
        (index.narrow(0, rank * block, block).fmod(97) * (n * (n + 1) / 2)).to(torch::kFloat);
    EXPECT_TRUE(torch::equal(summed, expected)) << "reduce-scatter sum, block " << block;
    auto averaged = torch::full({block}, -1.0f);
    g_comm
        ->reduce_scatter_async(torch::full({block * n}, static_cast<float>(2 * rank)), averaged,
                               ReduceOp::kAverage)
        ->wait();
    EXPECT_TRUE(torch::equal(averaged, torch::full({block}, static_cast<float>(n - 1))))
        << "reduce-scatter average, block " << block;

    // Out of place, then in place (the shard is this rank's block of the output).
    const auto mine = torch::arange(block, torch::kFloat).fmod(89) + 1000.0f * rank;
    auto gathered = torch::full({block * n}, std::nanf(""));
    g_comm->all_gather_async(mine.clone(), gathered)->wait();
    auto in_place = torch::full({block * n}, std::nanf(""));
    in_place.narrow(0, rank * block, block).copy_(mine);
    g_comm->all_gather_async(in_place.narrow(0, rank * block, block), in_place)->wait();
    for (int r = 0; r < n; ++r) {
      const auto theirs = torch::arange(block, torch::kFloat).fmod(89) + 1000.0f * r;
      EXPECT_TRUE(torch::equal(gathered.narrow(0, r * block, block), theirs))
          << "all-gather, block " << block << " of rank " << r;
      EXPECT_TRUE(torch::equal(in_place.narrow(0, r * block, block), theirs))
          << "in-place all-gather, block " << block << " of rank " << r;
    }
  }
}

// Every element of every bucket is in exactly one rank's pieces, at the offset its block says.
TEST(ZeroShardLayout, EveryElementBelongsToExactlyOneRank) {
  const std::vector<int64_t> numels = {7, 1, 13, 5, 2};
  const std::vector<std::vector<size_t>> buckets = {{4, 3}, {2}, {1, 0}};
  for (const int world : {1, 2, 3, 4, 8}) {
    std::vector<std::vector<int>> owner(numels.size());
    for (size_t k = 0; k < numels.size(); ++k) owner[k].assign(numels[k], 0);
    for (int r = 0; r < world; ++r) {
      const auto layout = plan_zero_shards(buckets, numels, world, r);
      int64_t shard = 0;
      for (size_t b = 0; b < buckets.size(); ++b) {
        const auto& bucket = layout.buckets[b];
        EXPECT_EQ(bucket.padded_numel % world, 0);
        EXPECT_LT(bucket.padded_numel - bucket.numel, world);
        shard += bucket.block_numel;
        // Position of each parameter in its bucket, to check the piece offsets.
        int64_t start = 0;
        std::map<size_t, int64_t> begin;
        for (size_t k : buckets[b]) begin[k] = start, start += numels[k];
        for (const auto& piece : bucket.pieces) {
          EXPECT_EQ(bucket.block_begin + piece.shard_offset,
                    begin[piece.parameter] + piece.parameter_offset);
          EXPECT_LE(piece.shard_offset + piece.numel, bucket.block_numel);
          for (int64_t e = 0; e < piece.numel; ++e)
            ++owner[piece.parameter][piece.parameter_offset + e];
        }
      }
      EXPECT_EQ(shard, layout.shard_numel());
    }
    for (size_t k = 0; k < numels.size(); ++k)
      for (int64_t e = 0; e < numels[k]; ++e)
        EXPECT_EQ(owner[k][e], 1) << "world " << world << " parameter " << k << " element " << e;
  }
}

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

Mlp make_model() {
  torch::manual_seed(1234);
  return Mlp();
}

constexpr int kSteps = 10;
constexpr int64_t kRowsPerRank = 3;
constexpr double kLr = 0.02;
// Large enough that weight decay moves every decaying weight visibly each step (a bias decayed by
// mistake would move by lr * wd * |b| ~ 1e-3), and a clip norm that engages on the early steps.
const AdamWOptions kAdamW{0.9, 0.95, 1e-8, 0.1};
constexpr double kMaxNorm = 0.5;

struct RunResult {
  std::vector<torch::Tensor> parameters;
  std::vector<double> norms;
  int64_t optimizer_bytes = 0;
};

// kSteps of data-parallel training on this rank's rows: DDP (all-reduce + AdamW) or ZeRO-1.
RunResult train(bool zero, double bucket_mb) {
  auto model = make_model();
  auto params = trainable_parameters(*model);
  GradientReducer reducer(*g_comm, params, bucket_mb, "hash",
                          zero ? GradientSync::kReduceScatter : GradientSync::kAllReduce);
  reducer.broadcast_parameters();
  std::optional<AdamW> adamw;
  std::optional<ZeroAdamW> zero_adamw;
  if (zero)
    zero_adamw.emplace(reducer, kAdamW);
  else
    adamw.emplace(params, kAdamW);
  const int n = g_comm->world_size();
  auto generator = torch::make_generator<at::CPUGeneratorImpl>(99);
  const auto x = torch::randn({kSteps, n * kRowsPerRank, 8}, generator);
  const auto y = torch::randn({kSteps, n * kRowsPerRank}, generator) * 3;
  RunResult result;
  for (int step = 0; step < kSteps; ++step) {
    reducer.zero_grad();
    const auto rows =
        torch::indexing::Slice(g_comm->rank() * kRowsPerRank, (g_comm->rank() + 1) * kRowsPerRank);
    const auto prediction = model->forward(x[step].index({rows}));
    (prediction - y[step].index({rows})).pow(2).mean().backward();
    reducer.finish_backward();
    if (zero) {
      result.norms.push_back(zero_adamw->clip_grad_norm(kMaxNorm));
      zero_adamw->step(kLr);
    } else {
      result.norms.push_back(clip_grad_norm(params, kMaxNorm));
      adamw->step(kLr);
    }
  }
  for (const auto& p : params) result.parameters.push_back(p.tensor.detach().clone());
  result.optimizer_bytes = zero ? zero_adamw->state_bytes() : adamw->state_bytes();
  return result;
}

// max |a - b| / max |b| over all parameters.
double relative_difference(const std::vector<torch::Tensor>& a,
                           const std::vector<torch::Tensor>& b) {
  double diff = 0, scale = 1e-30;
  for (size_t k = 0; k < a.size(); ++k) {
    diff = std::max(diff, (a[k] - b[k]).abs().max().item<double>());
    scale = std::max(scale, b[k].abs().max().item<double>());
  }
  return diff / scale;
}

// The same gradients, averaged by reduce-scatter instead of all-reduce (sum, then divide: the same
// per-element arithmetic), and the same fused kernel: only the clip norm's summation order differs
// (float32 per-parameter norms in DDP, double per shard here), a relative 1e-7 in the clip
// coefficient. 1e-6 relative over 10 steps is the bound; one wrongly decayed or unclipped
// element, or a misplaced shard, is orders above it.
TEST(Zero1, ParametersEqualTheDdpRunOverTenSteps) {
  for (const double bucket_mb : {0.0005, 0.002, 25.0}) {  // 131 / 524 elements: blocks split
    const auto ddp = train(false, bucket_mb);             // parameters and decay groups
    const auto zero = train(true, bucket_mb);
    const double difference = relative_difference(zero.parameters, ddp.parameters);
    double norm_difference = 0;
    for (int s = 0; s < kSteps; ++s)
      norm_difference =
          std::max(norm_difference, std::abs(zero.norms[s] - ddp.norms[s]) / ddp.norms[s]);
    if (g_comm->rank() == 0)
      std::printf(
          "ZeRO-1 vs DDP, %d ranks, bucket_mb %g: parameters max relative difference %.3g, grad "
          "norm %.3g (first norm %.3g, clip %.2g)\n",
          g_comm->world_size(), bucket_mb, difference, norm_difference, ddp.norms[0], kMaxNorm);
    EXPECT_LE(difference, 1e-6) << "bucket_mb " << bucket_mb;
    EXPECT_LE(norm_difference, 1e-6) << "bucket_mb " << bucket_mb;
    EXPECT_GT(ddp.norms[0], kMaxNorm) << "clipping must engage for the test to mean anything";
    // Every rank holds the same parameters after the all-gather.
    const auto rank0 = g_comm->all_gather_bytes(std::string(
        static_cast<const char*>(zero.parameters[0].data_ptr()), zero.parameters[0].nbytes()));
    for (const auto& bytes : rank0) EXPECT_EQ(bytes, rank0[0]);
  }
}

// Per-rank AdamW state: 1/N of the DDP optimizer's, plus at most N - 1 padding elements per bucket.
TEST(Zero1, OptimizerStatePerRankIsOneNth) {
  const int n = g_comm->world_size();
  const auto ddp = train(false, 0.002);
  const auto zero = train(true, 0.002);
  auto model = make_model();
  GradientReducer reducer(*g_comm, trainable_parameters(*model), 0.002, "hash",
                          GradientSync::kReduceScatter);
  ZeroAdamW optimizer(reducer, kAdamW);
  const int64_t buckets = static_cast<int64_t>(reducer.buckets().size());
  ASSERT_GT(buckets, 1);
  // Measured from the tensors a checkpoint would write.
  int64_t written = 0;
  for (const auto& [key, tensor] : optimizer.state_dict())
    if (key.rfind("exp_avg", 0) == 0) written += tensor.nbytes();
  EXPECT_EQ(written, zero.optimizer_bytes);
  const int64_t padding_bound = buckets * (n - 1) * 2 * sizeof(float);
  EXPECT_GE(zero.optimizer_bytes * n, ddp.optimizer_bytes);
  EXPECT_LE(zero.optimizer_bytes * n, ddp.optimizer_bytes + padding_bound);
  if (g_comm->rank() == 0)
    std::printf(
        "optimizer state per rank: DDP %lld bytes, ZeRO-1 %lld bytes (ratio %.4f, 1/N = "
        "%.4f)\n",
        static_cast<long long>(ddp.optimizer_bytes), static_cast<long long>(zero.optimizer_bytes),
        static_cast<double>(zero.optimizer_bytes) / ddp.optimizer_bytes, 1.0 / n);
}

// A NaN or Inf in one rank's local gradient lands in one rank's shard only; the global norm, and so
// the skip decision, must be non-finite on every rank.
TEST(Zero1, NonFiniteGradientOnOneRankIsSeenByEveryRank) {
  for (const float bad : {std::nanf(""), INFINITY}) {
    auto model = make_model();
    auto params = trainable_parameters(*model);
    GradientReducer reducer(*g_comm, params, 0.002, "hash", GradientSync::kReduceScatter);
    ZeroAdamW optimizer(reducer, kAdamW);
    reducer.zero_grad();
    // Through the input: buckets start reducing during backward, so a gradient edited afterwards
    // would never be reduced.
    auto x = torch::ones({2, 8});
    if (g_comm->rank() == g_comm->world_size() - 1) x[0][0] = bad;
    model->forward(x).sum().backward();
    reducer.finish_backward();
    const double norm = optimizer.clip_grad_norm(kMaxNorm);
    EXPECT_FALSE(std::isfinite(norm)) << "rank " << g_comm->rank() << " saw norm " << norm;
    const auto all = g_comm->all_gather_bytes(std::isfinite(norm) ? "finite" : "non-finite");
    for (const auto& seen : all) EXPECT_EQ(seen, "non-finite");
  }
}

// The real training loop on a small regression task with dropout (so the RNG streams matter).
class RegressionTask : public TrainingTask {
 public:
  RegressionTask() {
    torch::manual_seed(7);
    net_ = torch::nn::Sequential(torch::nn::Linear(6, 24), torch::nn::ReLU(),
                                 torch::nn::Dropout(0.2), torch::nn::Linear(24, 1));
    auto generator = torch::make_generator<at::CPUGeneratorImpl>(3);
    x_ = torch::randn({72, 6}, generator);
    y_ = (x_.narrow(1, 0, 3).sum(1) - x_.narrow(1, 3, 3).prod(1)).tanh() * 2;
  }
  torch::nn::Module& module() override { return *net_; }
  // 72 samples, 4 per rank per micro-batch, 2 micro-batches per step: 5 steps per epoch on 2
  // ranks, 3 on 3; checkpoints every 2 steps and at the end.
  int64_t num_train_samples() const override { return 72; }
  torch::Tensor loss_sum(const std::vector<int64_t>& samples) override {
    net_->train();
    const auto index = torch::tensor(samples, torch::kLong);
    return (net_->forward(x_.index_select(0, index)).squeeze(-1) - y_.index_select(0, index))
        .pow(2)
        .sum();
  }
  std::vector<torch::Tensor> parameters() {
    std::vector<torch::Tensor> out;
    for (const auto& p : net_->parameters()) out.push_back(p.detach().clone());
    return out;
  }

 private:
  torch::nn::Sequential net_{nullptr};
  torch::Tensor x_, y_;
};

LoopOptions loop_options(const std::string& dir, int64_t zero, bool resume) {
  LoopOptions options;
  options.optim.lr = 1e-2;
  options.optim.weight_decay = 0.1;
  options.optim.epochs = 2;
  options.optim.micro_batch_size = 4;
  options.optim.grad_accum_steps = 2;
  options.optim.max_grad_norm = 0.3;
  options.distributed.bucket_mb = 0.0005;
  options.distributed.zero = zero;
  options.output.checkpoint_every_steps = 2;
  options.output.keep_checkpoints = 100;
  options.output.log_every_steps = 100;
  options.checkpoint_dir = dir;
  options.config_hash = "zero-loop";
  options.seed = 11;
  options.resume = resume;
  options.label = "mlp/fold0";
  return options;
}

TEST(Zero1Loop, CheckpointPerRankResumesBitForBitAndMatchesDdp) {
  const int n = g_comm->world_size();
  const std::string dir = shared_tmp("loop");
  RegressionTask uninterrupted;
  run_training(uninterrupted, *g_comm, loop_options(dir + "/zero", 1, false));
  const auto zero_final = uninterrupted.parameters();

  // The layout: one optimizer file per rank, no whole-model optimizer file, zero_stage recorded.
  std::vector<std::string> folders;
  for (const auto& entry : fs::directory_iterator(dir + "/zero"))
    if (entry.path().filename().string().rfind("step-", 0) == 0)
      folders.push_back(entry.path().string());
  std::sort(folders.begin(), folders.end());
  ASSERT_GE(folders.size(), 3u);
  const std::string middle = folders[folders.size() / 2];
  for (int r = 0; r < n; ++r)
    EXPECT_TRUE(fs::exists(fmt::format("{}/optimizer/rank{}.safetensors", middle, r))) << middle;
  EXPECT_FALSE(fs::exists(fmt::format("{}/optimizer/rank{}.safetensors", middle, n)));
  EXPECT_FALSE(fs::exists(middle + "/optimizer.safetensors"));
  std::string why;
  EXPECT_TRUE(CheckpointStore::verify(middle, &why)) << why;  // DONE lists every rank's shard
  const auto state = nlohmann::json::parse(std::ifstream(middle + "/trainer_state.json"));
  EXPECT_EQ(state.at("zero_stage").get<int>(), 1);
  EXPECT_EQ(state.at("world_size").get<int>(), n);

  // Interrupted after `middle`: a copy of the run folder without the later checkpoints resumes.
  if (g_comm->rank() == 0) {
    fs::copy(dir + "/zero", dir + "/resumed", fs::copy_options::recursive);
    for (const auto& folder : folders)
      if (folder > middle) fs::remove_all(dir + "/resumed/" + fs::path(folder).filename().string());
  }
  g_comm->barrier();
  RegressionTask resumed;
  const auto result = run_training(resumed, *g_comm, loop_options(dir + "/resumed", 1, true));
  const auto resumed_final = resumed.parameters();
  ASSERT_EQ(resumed_final.size(), zero_final.size());
  for (size_t k = 0; k < zero_final.size(); ++k)
    EXPECT_TRUE(torch::equal(resumed_final[k], zero_final[k])) << "parameter " << k;
  EXPECT_GT(result.optimizer_steps, 2);

  // The DDP loop reaches the same parameters.
  RegressionTask ddp;
  run_training(ddp, *g_comm, loop_options(dir + "/ddp", 0, false));
  const double difference = relative_difference(zero_final, ddp.parameters());
  if (g_comm->rank() == 0)
    std::printf("training loop, %d ranks: ZeRO-1 vs DDP parameters max relative difference %.3g\n",
                n, difference);
  EXPECT_LE(difference, 1e-6);

  // zero: 0 meets a ZeRO checkpoint (and the reverse): one UserError on every rank, naming the
  // folder and both settings; nothing hangs.
  for (const auto& [run, zero] : {std::pair{"/zero", 0}, std::pair{"/ddp", 1}}) {
    RegressionTask task;
    try {
      run_training(task, *g_comm, loop_options(dir + run, zero, true));
      ADD_FAILURE() << "expected a UserError resuming " << run << " with zero " << zero;
    } catch (const tf::UserError& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find(dir + run + "/step-"), std::string::npos) << message;
      EXPECT_NE(message.find(fmt::format("written with distributed.zero: {}", 1 - zero)),
                std::string::npos)
          << message;
      EXPECT_NE(message.find(fmt::format("this run has distributed.zero: {}", zero)),
                std::string::npos)
          << message;
    }
  }
  g_comm->barrier();
  if (g_comm->rank() == 0) fs::remove_all(dir);
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
