// Training throughput of the real loop (sampler, reducer, AdamW, clipping, metrics) on an MLP
// regression task, against PyTorch training the same MLP with the same batch and AdamW in the same
// run, and model FLOP/s against the GEMM peak measured here.
//   mpirun -np N bench_trainer_throughput [hidden=512] [samples=4096]
// Prints one "RESULT ranks=N samples_per_s=..." line that run_scaling.sh compares across N.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "bench/trainer/gemm_rate.h"
#include "common/log.h"
#include "trainer/communicator.h"
#include "trainer/training_loop.h"

using namespace tokenfocus;
using namespace tokenfocus::trainer;
using Clock = std::chrono::steady_clock;

namespace {

int64_t g_hidden = 512;

struct MlpImpl : torch::nn::Module {
  MlpImpl() {
    fc1 = register_module("fc1", torch::nn::Linear(256, g_hidden));
    fc2 = register_module("fc2", torch::nn::Linear(g_hidden, g_hidden));
    fc3 = register_module("fc3", torch::nn::Linear(g_hidden, 1));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return fc3(torch::relu(fc2(torch::relu(fc1(x))))).squeeze(-1);
  }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr}, fc3{nullptr};
};
TORCH_MODULE(Mlp);

class Task : public TrainingTask {
 public:
  explicit Task(int64_t samples) : samples_(samples) {
    torch::manual_seed(0);
    x_ = torch::randn({samples, 256});
    y_ = torch::randn({samples});
  }
  torch::nn::Module& module() override { return *net_; }
  int64_t num_train_samples() const override { return samples_; }
  torch::Tensor loss_sum(const std::vector<int64_t>& samples) override {
    const auto index = torch::tensor(samples, torch::kLong);
    return (net_->forward(x_.index_select(0, index)) - y_.index_select(0, index)).pow(2).sum();
  }
  int64_t parameters() const {
    int64_t n = 0;
    for (const auto& p : net_->parameters()) n += p.numel();
    return n;
  }

 private:
  int64_t samples_;
  Mlp net_;
  torch::Tensor x_, y_;
};

}  // namespace

int main(int argc, char** argv) {
  g_hidden = argc > 1 ? std::atoll(argv[1]) : 512;
  const int64_t samples = argc > 2 ? std::atoll(argv[2]) : 4096;
  const int64_t batch = 32;
  auto comm = make_communicator({"mpi", 600.0});
  log::set_rank(comm->rank(), comm->world_size());
  log::set_level(log::Level::kWarn);
  torch::set_num_threads(1);  // one core per rank: ranks are the parallelism being measured

  double peer_samples_per_s = 0;
  if (comm->rank() == 0 && comm->world_size() == 1) {
    const std::string out = "/tmp/tokenfocus-bench-peer-" + std::to_string(getpid());
    const std::string command = fmt::format(
        "{} -c \"import torch,time\ntorch.set_num_threads(1)\ntorch.manual_seed(0)\nh={}\nn={}\n"
        "m=torch.nn.Sequential(torch.nn.Linear(256,h),torch.nn.ReLU(),torch.nn.Linear(h,h),torch."
        "nn.ReLU(),"
        "torch.nn.Linear(h,1))\nx=torch.randn(n,256);y=torch.randn(n)\n"
        "o=torch.optim.AdamW(m.parameters(),lr=1e-4,fused=True)\nt=time.perf_counter()\n"
        "for i in range(0,n,{}):\n "
        "o.zero_grad();l=((m(x[i:i+{}]).squeeze(-1)-y[i:i+{}])**2).mean();l.backward();"
        "torch.nn.utils.clip_grad_norm_(m.parameters(),1.0);o.step()\n"
        "open('{}','w').write(str(n/(time.perf_counter()-t)))\"",
        TOKENFOCUS_REFERENCE_PYTHON_BENCH, g_hidden, samples, batch, batch, batch, out);
    if (std::system(command.c_str()) == 0) {
      FILE* f = std::fopen(out.c_str(), "r");
      if (f && std::fscanf(f, "%lf", &peer_samples_per_s) != 1) peer_samples_per_s = 0;
      if (f) std::fclose(f);
      std::remove(out.c_str());
    }
  }
  comm->barrier();

  Task task(samples);
  LoopOptions options;
  options.optim.lr = 1e-4;
  options.optim.epochs = 1;
  options.optim.micro_batch_size =
      batch / comm->world_size();  // same global batch at any world size
  options.optim.warmup_ratio = 0;
  options.output.log_every_steps = 1000000;
  const std::string dir =
      "/tmp/tokenfocus-bench-throughput-" + comm->all_gather_bytes(std::to_string(getpid()))[0];
  options.checkpoint_dir = dir + "/checkpoints";
  options.config_hash = "bench";
  options.label = "bench";
  comm->barrier();
  const auto start = Clock::now();
  run_training(task, *comm, options);  // ends with one checkpoint, included: a real epoch pays it
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double gflops = tokenfocus::bench::sgemm_1024_gflops(0.5);
  if (comm->rank() == 0) {
    const double rate = samples / seconds;
    const double model_gflops = 6.0 * task.parameters() * rate / 1e9;  // forward + backward
    std::printf(
        "MLP 256-%lld-%lld-1 (%lld params), global batch %lld, %lld samples, %d rank(s), 1 thread "
        "each\n",
        static_cast<long long>(g_hidden), static_cast<long long>(g_hidden),
        static_cast<long long>(task.parameters()), static_cast<long long>(batch),
        static_cast<long long>(samples), comm->world_size());
    std::printf(
        "RESULT ranks=%d samples_per_s=%.1f model_gflops=%.2f gemm_peak_gflops_per_rank=%.2f "
        "fraction_of_peak=%.3f\n",
        comm->world_size(), rate, model_gflops, gflops,
        model_gflops / (gflops * comm->world_size()));
    if (peer_samples_per_s > 0)
      std::printf(
          "PyTorch (python, same MLP/batch/AdamW, 1 thread): %.1f samples/s; ours/PyTorch = %.3f\n",
          peer_samples_per_s, rate / peer_samples_per_s);
    std::filesystem::remove_all(dir);
  }
  return 0;
}
