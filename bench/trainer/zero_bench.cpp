// ZeRO stage 1 (distributed.zero: 1), two measurements in one run:
//   mpirun -np N bench_trainer_zero [REPO=.] [max_mib=64]
// 1. Collectives (N >= 2): for each size (4 KiB .. max_mib, x4) of a float32 bucket, raw blocking
//    MPI_Reduce_scatter_block + MPI_Allgather(MPI_IN_PLACE), the same pair non-blocking with a
//    plain MPI_Wait, and ours: Communicator::reduce_scatter_async (average) + all_gather_async
//    (in place), with the deadline polling and arrival notices, i.e. what a ZeRO-1 step pays per
//    bucket. Together the pair moves what one all-reduce moves: busbw = algbw * 2(n-1)/n.
// 2. AdamW state per rank for the models bench_trainer_vlm trains
// (configs/models/tiny-qwen2-vl.json
//    and its mid-size scaling), full fine-tuning and LoRA (r 8 on q/k/v/o): the bytes of
//    exp_avg + exp_avg_sq that AdamW (DDP) and ZeroAdamW hold on this rank, measured from the
//    optimizers built on the real parameters, and their ratio (1/N plus bucket padding).
// run_zero_bench.sh runs N = 1, 2, 3.
#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "models/init.h"
#include "models/peft.h"
#include "models/registry.h"
#include "trainer/communicator.h"
#include "trainer/gradient_reducer.h"
#include "trainer/optimizer.h"
#include "trainer/zero_optimizer.h"

using namespace tokenfocus;
using namespace tokenfocus::trainer;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

// Seconds per call of fn on the slowest rank: enough repetitions for ~0.3 s (at least 3).
template <class F>
double time_per_call(F&& fn) {
  fn();  // warm-up
  int target = 3;
  double elapsed = 0;
  for (;;) {
    MPI_Barrier(MPI_COMM_WORLD);
    const auto start = Clock::now();
    for (int i = 0; i < target; ++i) fn();
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    int again = elapsed < 0.3 && target < 4096;  // rank 0 decides for everyone
    MPI_Bcast(&again, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (!again) break;
    target *= 4;
  }
  double slowest = elapsed / target;
  MPI_Allreduce(MPI_IN_PLACE, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return slowest;
}

void bench_collectives(Communicator& comm, int64_t max_mib) {
  const int n = comm.world_size();
  const double bus_factor = 2.0 * (n - 1) / n;
  if (comm.rank() == 0) {
    std::printf(
        "reduce-scatter + all-gather, %d ranks, float32; busbw = algbw * 2(n-1)/n; ratio = ours / "
        "raw blocking MPI\n",
        n);
    std::printf("%12s %10s %14s %12s %10s %14s %8s\n", "bytes", "mpi_us", "mpi_busbw_GB/s",
                "nonblock_us", "ours_us", "ours_busbw_GB/s", "ratio");
  }
  for (int64_t bytes = 4096; bytes <= max_mib * 1024 * 1024; bytes *= 4) {
    const int64_t block = bytes / 4 / n;
    const int64_t count = block * n;
    auto input = torch::ones({count});
    auto output = torch::ones({count});
    auto shard = torch::ones({block});
    const int b = static_cast<int>(block);
    const double t_mpi = time_per_call([&] {
      MPI_Reduce_scatter_block(input.data_ptr(), shard.data_ptr(), b, MPI_FLOAT, MPI_SUM,
                               MPI_COMM_WORLD);
      MPI_Allgather(MPI_IN_PLACE, b, MPI_FLOAT, output.data_ptr(), b, MPI_FLOAT, MPI_COMM_WORLD);
    });
    // Open MPI's non-blocking algorithms with a plain wait: separates their cost from our polling.
    const double t_nonblocking = time_per_call([&] {
      MPI_Request request;
      MPI_Ireduce_scatter_block(input.data_ptr(), shard.data_ptr(), b, MPI_FLOAT, MPI_SUM,
                                MPI_COMM_WORLD, &request);
      MPI_Wait(&request, MPI_STATUS_IGNORE);
      MPI_Iallgather(MPI_IN_PLACE, b, MPI_FLOAT, output.data_ptr(), b, MPI_FLOAT, MPI_COMM_WORLD,
                     &request);
      MPI_Wait(&request, MPI_STATUS_IGNORE);
    });
    const double t_ours = time_per_call([&] {
      comm.reduce_scatter_async(input, shard, ReduceOp::kAverage)->wait();
      comm.all_gather_async(output.narrow(0, comm.rank() * block, block), output)->wait();
    });
    if (comm.rank() == 0) {
      const double mpi_bw = bytes / t_mpi * bus_factor / 1e9;
      const double ours_bw = bytes / t_ours * bus_factor / 1e9;
      std::printf("%12lld %10.1f %14.3f %12.1f %10.1f %14.3f %8.3f\n",
                  static_cast<long long>(bytes), t_mpi * 1e6, mpi_bw, t_nonblocking * 1e6,
                  t_ours * 1e6, ours_bw, ours_bw / mpi_bw);
      std::fflush(stdout);
    }
  }
}

// bench_trainer_vlm's mid-size config: the tiny one scaled to hidden 512 / 4 layers / vision
// 128 x 4 blocks (kept in step with write_mid_config there).
std::string write_mid_config(const std::string& tiny_path, const fs::path& dir) {
  std::ifstream in(tiny_path);
  nlohmann::json c = nlohmann::json::parse(in);
  c["hidden_size"] = 512;
  c["intermediate_size"] = 1376;
  c["num_hidden_layers"] = 4;
  c["num_attention_heads"] = 8;
  c["num_key_value_heads"] = 2;
  c["rope_scaling"]["mrope_section"] = {8, 12, 12};
  c["initializer_range"] = 0.044;
  c["vision_config"]["embed_dim"] = 128;
  c["vision_config"]["depth"] = 4;
  c["vision_config"]["hidden_size"] = 512;
  const fs::path path = dir / "mid-qwen2-vl.json";
  std::ofstream(path) << c.dump(2);
  return path.string();
}

void bench_optimizer_bytes(Communicator& comm, const std::string& size,
                           const std::string& config_path, const fs::path& work) {
  const fs::path model_dir = work / ("model-" + size);
  if (comm.rank() == 0) {
    models::PreprocessorSettings preprocessor;
    preprocessor.min_pixels = preprocessor.max_pixels = 3136;
    models::init_model_folder(config_path, model_dir.string(), 0, preprocessor);
  }
  comm.barrier();
  for (const std::string finetune : {"full", "lora"}) {
    auto model = models::load_backbone(model_dir.string());
    config::LoraConfig lora;  // the config's defaults: r 8 on q/k/v/o
    if (finetune == "lora") models::apply_lora(*model, lora);
    for (auto& item : model->named_parameters())
      item.value().set_requires_grad(finetune == "full" ||
                                     item.key().find("lora_") != std::string::npos);
    const auto parameters = trainable_parameters(*model);
    int64_t elements = 0;
    for (const auto& p : parameters) elements += p.tensor.numel();
    const AdamWOptions options;
    const int64_t ddp_bytes = AdamW(parameters, options).state_bytes();
    GradientReducer reducer(comm, parameters, 25.0, "bench", GradientSync::kReduceScatter);
    const int64_t zero_bytes = ZeroAdamW(reducer, options).state_bytes();
    // The largest rank's share (all blocks are equal, so every rank's).
    double worst = static_cast<double>(zero_bytes);
    MPI_Allreduce(MPI_IN_PLACE, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (comm.rank() == 0) {
      std::printf(
          "RESULT model=%s finetune=%s ranks=%d trainable=%lld buckets=%zu ddp_bytes=%lld "
          "zero_bytes=%lld ratio=%.4f one_over_n=%.4f\n",
          size.c_str(), finetune.c_str(), comm.world_size(), static_cast<long long>(elements),
          reducer.buckets().size(), static_cast<long long>(ddp_bytes),
          static_cast<long long>(worst), worst / ddp_bytes, 1.0 / comm.world_size());
      std::fflush(stdout);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string repo = argc > 1 ? argv[1] : ".";
  const int64_t max_mib = argc > 2 ? std::atoll(argv[2]) : 64;
  auto comm = make_communicator({"mpi", 600.0});
  log::set_rank(comm->rank(), comm->world_size());
  if (comm->world_size() > 1) bench_collectives(*comm, max_mib);
  const fs::path work =
      fs::temp_directory_path() /
      ("tokenfocus-zero-bench-" + comm->all_gather_bytes(std::to_string(getpid()))[0]);
  if (comm->rank() == 0) fs::create_directories(work);
  comm->barrier();
  const std::string tiny = repo + "/configs/models/tiny-qwen2-vl.json";
  bench_optimizer_bytes(*comm, "tiny", tiny, work);
  if (comm->rank() == 0) write_mid_config(tiny, work);
  comm->barrier();
  bench_optimizer_bytes(*comm, "mid", (work / "mid-qwen2-vl.json").string(), work);
  comm->barrier();
  if (comm->rank() == 0) fs::remove_all(work);
  return 0;
}
