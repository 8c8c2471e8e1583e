// A small but complete training job for the loop tests: an MLP with dropout (so the RNG state
// matters for resume) regresses a synthetic target with the real trainer loop, communicator,
// reducer, AdamW, checkpoints and preemption. Started by loop_driver_test.cpp under mpirun.
//   loop_program RUN_DIR [--resume] [--sleep-ms N] [--epochs N] [--timeout S] [--lora]
// --lora: the same MLP built from models::Linear with LoRA (rank 4, dropout 0.1) on both layers
// and the base weights frozen, as finetune: lora trains a backbone: only the factors train, and
// only they (and their AdamW state) go into the checkpoints.
// Writes RUN_DIR/pids/rank<r>.pid at start and, at the end, RUN_DIR/final.safetensors (weights)
// and RUN_DIR/predictions.safetensors (held-out predictions). Exit 75 after a preemption.
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/error.h"
#include "common/log.h"
#include "models/linear.h"
#include "models/peft.h"
#include "models/safetensors.h"
#include "trainer/communicator.h"
#include "trainer/training_loop.h"

using namespace tokenfocus;
using namespace tokenfocus::trainer;

namespace {

struct NetImpl : torch::nn::Module {
  NetImpl() {
    fc1 = register_module("fc1", torch::nn::Linear(6, 24));
    drop = register_module("drop", torch::nn::Dropout(0.2));
    fc2 = register_module("fc2", torch::nn::Linear(24, 1));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return fc2(drop(torch::relu(fc1(x)))).squeeze(-1);
  }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::nn::Dropout drop{nullptr};
};
TORCH_MODULE(Net);

struct LoraNetImpl : torch::nn::Module {
  LoraNetImpl() {
    fc1 = register_module("fc1", models::Linear(6, 24, true));
    drop = register_module("drop", torch::nn::Dropout(0.2));
    fc2 = register_module("fc2", models::Linear(24, 1, true));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return fc2(drop(torch::relu(fc1(x)))).squeeze(-1);
  }
  models::Linear fc1{nullptr}, fc2{nullptr};
  torch::nn::Dropout drop{nullptr};
};
TORCH_MODULE(LoraNet);

class RegressionTask : public TrainingTask {
 public:
  RegressionTask(int sleep_ms, bool lora) : sleep_ms_(sleep_ms) {
    torch::manual_seed(7);
    if (lora) {
      auto net = LoraNet();
      config::LoraConfig settings;
      settings.rank = 4;
      settings.alpha = 8;
      settings.dropout = 0.1;
      settings.target_modules = {"fc1", "fc2"};
      models::apply_lora(*net, settings);
      for (auto& item : net->named_parameters())
        item.value().set_requires_grad(item.key().find(".lora_") != std::string::npos);
      // B starts at 0 (PEFT's init): give it values so that the base weights matter from step 1.
      torch::NoGradGuard no_grad;
      for (auto& item : net->named_parameters())
        if (item.key().find(".lora_B") != std::string::npos) item.value().normal_(0, 0.1);
      module_ = net.ptr();
      forward_ = [net](const torch::Tensor& x) mutable { return net->forward(x); };
    } else {
      auto net = Net();
      module_ = net.ptr();
      forward_ = [net](const torch::Tensor& x) mutable { return net->forward(x); };
    }
    auto generator = torch::make_generator<at::CPUGeneratorImpl>(3);
    x_ = torch::randn({80, 6}, generator);
    y_ = (x_.narrow(1, 0, 3).sum(1) - x_.narrow(1, 3, 3).prod(1)).tanh();
  }
  torch::nn::Module& module() override { return *module_; }
  int64_t num_train_samples() const override { return 64; }  // rows 64..79 are held out
  torch::Tensor loss_sum(const std::vector<int64_t>& samples) override {
    if (sleep_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms_));
    module_->train();
    const auto index = torch::tensor(samples, torch::kLong);
    return (forward_(x_.index_select(0, index)) - y_.index_select(0, index)).pow(2).sum();
  }
  std::string end_of_epoch(int64_t, Communicator&) override {
    return fmt::format("{{\"heldout_mse\": {}}}",
                       (predictions() - y_.narrow(0, 64, 16)).pow(2).mean().item<double>());
  }
  torch::Tensor predictions() {
    torch::NoGradGuard no_grad;
    module_->eval();
    return forward_(x_.narrow(0, 64, 16));
  }
  std::shared_ptr<torch::nn::Module> module_;

 private:
  int sleep_ms_;
  std::function<torch::Tensor(const torch::Tensor&)> forward_;
  torch::Tensor x_, y_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: loop_program RUN_DIR [--resume] [--sleep-ms N] [--epochs N] [--timeout S] "
                 "[--lora]\n");
    return 1;
  }
  const std::string run_dir = argv[1];
  bool resume = false, lora = false;
  int sleep_ms = 0;
  int64_t epochs = 3;
  double timeout = 30;
  for (int i = 2; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--resume")) resume = true;
    if (!std::strcmp(argv[i], "--lora")) lora = true;
    if (!std::strcmp(argv[i], "--sleep-ms")) sleep_ms = std::atoi(argv[++i]);
    if (!std::strcmp(argv[i], "--epochs")) epochs = std::atoll(argv[++i]);
    if (!std::strcmp(argv[i], "--timeout")) timeout = std::atof(argv[++i]);
  }
  try {
    auto comm = make_communicator({"mpi", timeout});
    log::set_rank(comm->rank(), comm->world_size());
    std::filesystem::create_directories(run_dir + "/pids");
    std::ofstream(run_dir + "/pids/rank" + std::to_string(comm->rank()) + ".pid")
        << getpid() << "\n";

    RegressionTask task(sleep_ms, lora);
    LoopOptions options;
    options.optim.lr = 3e-3;
    options.optim.epochs = epochs;
    options.optim.micro_batch_size = 4;
    options.optim.grad_accum_steps = 2;
    options.optim.warmup_ratio = 0.1;
    options.distributed.bucket_mb = 0.001;  // several buckets even for this small net
    options.distributed.timeout_seconds = timeout;
    options.output.checkpoint_every_steps = 2;
    options.output.keep_checkpoints = 2;
    options.output.log_every_steps = 1;
    options.checkpoint_dir = run_dir + "/checkpoints";
    options.metrics_path = run_dir + "/metrics.jsonl";
    options.config_hash = "loop-test";
    options.seed = 11;
    options.resume = resume;
    options.label = "mlp/fold0";
    const auto result = run_training(task, *comm, options);
    if (result.preempted) return kExitRequeue;
    if (comm->rank() == 0) {
      std::map<std::string, torch::Tensor> weights;
      for (const auto& item : task.module().named_parameters())
        weights[item.key()] = item.value().detach();
      models::save_safetensors(run_dir + "/final.safetensors", weights);
      models::save_safetensors(run_dir + "/predictions.safetensors",
                               {{"heldout", task.predictions()}});
    }
    return 0;
  } catch (const UserError& e) {
    log::error("{}", e.what());
    return kExitUserError;
  }
}
