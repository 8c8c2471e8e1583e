// Training throughput of the real VQA training path (batch builder, Qwen2-VL backbone, TF+PS loss,
// reducer, AdamW) on the synthetic shapes data, for the tiny config the demo trains
// (configs/models/tiny-qwen2-vl.json: hidden 128, 2 layers) and a mid-size one (hidden 512,
// 4 layers, vision width 128 × 4 blocks), with model FLOP/s against the GEMM peak measured here.
//   mpirun -np N bench_trainer_vlm [REPO=.] [tiny_samples=192] [mid_samples=48] [global_batch=8]
// Prints per size one "RESULT size=S ranks=N samples_per_s=... model_gflops=..." line that
// run_scaling.sh compares across N (same global batch at every N).
//
// Model FLOPs are counted from the shapes of what ran (not from a profiler): per step, for every
// question sequence of the padded batch (S tokens), 2·(layer linear weights)·S + 4·S²·H per layer
// for attention except the last layer, which runs only at the query position (2·weights + 4·S·H),
// 2·V·H for the LM head there, and for every image 2·(vision linear weights)·patches + 4·n²·E per
// block + the merger; training = 3 × forward (backward = 2 ×). The GEMM peak is a 1024² sgemm's
// rate: other shapes can run faster, so a fraction slightly above 1 is possible.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "bench/trainer/gemm_rate.h"
#include "common/config/sections/loss.h"
#include "common/config/sections/prompt.h"
#include "common/log.h"
#include "data/batch_builder.h"
#include "data/chat_template.h"
#include "data/image_processor.h"
#include "data/label_set.h"
#include "data/records.h"
#include "data/synthetic.h"
#include "data/tokenizer.h"
#include "losses/batch_targets.h"
#include "losses/label_head.h"
#include "losses/tf_ps_loss.h"
#include "models/hf_config.h"
#include "models/init.h"
#include "models/registry.h"
#include "trainer/communicator.h"
#include "trainer/cpu_threads.h"
#include "trainer/training_loop.h"
#include "trainer/vqa_task.h"

using namespace tokenfocus;
using namespace tokenfocus::trainer;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// What one question sequence / one image costs, from the model's weights.
struct FlopModel {
  double decoder_linear = 0;  // weights of the decoder layers' linear maps
  double vision_linear = 0;   // weights of the vision blocks' linear maps
  double patch_embed = 0;     // patch embedding weights
  double merger = 0;          // merger (projector) weights, applied per merged token
  int64_t layers = 0, hidden = 0, vocab = 0, vision_blocks = 0, vision_width = 0, merge = 4;
};

FlopModel flop_model(models::Backbone& model, const models::HfModelConfig& c) {
  FlopModel f;
  for (const auto& item : model.named_parameters()) {
    const std::string& name = item.key();
    const double n = static_cast<double>(item.value().numel());
    if (item.value().dim() < 2) continue;
    if (name.rfind("model.layers.", 0) == 0) f.decoder_linear += n;
    if (name.rfind("visual.blocks.", 0) == 0) f.vision_linear += n;
    if (name.rfind("visual.patch_embed.", 0) == 0) f.patch_embed += n;
    if (name.rfind("visual.merger.", 0) == 0) f.merger += n;
  }
  f.layers = c.num_hidden_layers;
  f.hidden = c.hidden_size;
  f.vocab = c.vocab_size;
  f.vision_blocks = c.vision.depth;
  f.vision_width = c.vision.hidden_size;
  f.merge = c.vision.spatial_merge_size * c.vision.spatial_merge_size;
  return f;
}

// Shapes of one sample's questions and image, measured once by building its batch alone.
struct SampleShape {
  std::vector<int64_t> lengths;  // real tokens of each decoder row (packed: one per sample)
  int64_t patches = 0;           // vision patches of its image
};

// Forward FLOPs of one micro-batch of samples (padded to the longest sequence, as built).
double forward_flops(const FlopModel& f, const std::vector<const SampleShape*>& batch) {
  int64_t rows = 0, longest = 0;
  double flops = 0;
  for (const SampleShape* s : batch) {
    rows += static_cast<int64_t>(s->lengths.size());
    for (int64_t l : s->lengths) longest = std::max(longest, l);
    const double n = static_cast<double>(s->patches);
    flops += 2 * n * (f.patch_embed + f.vision_linear) +
             4.0 * n * n * static_cast<double>(f.vision_width * f.vision_blocks) +
             2 * (n / static_cast<double>(f.merge)) * f.merger;
  }
  // Every layer but the last runs at every position; the last only at each row's query position
  // (hidden_at), attending over the row's `longest` keys.
  const double r = static_cast<double>(rows), s = static_cast<double>(longest);
  const double h = static_cast<double>(f.hidden), full_layers = static_cast<double>(f.layers - 1);
  const double per_layer = f.decoder_linear / static_cast<double>(f.layers);
  flops += 2 * (r * s * full_layers + r) * per_layer + 4.0 * r * s * s * h * full_layers +
           4.0 * r * s * h + 2.0 * r * static_cast<double>(f.vocab) * h;
  return flops;
}

// Times the steps after the first `warmup` micro-batches (to the end of the epoch, before the
// loop's final checkpoint) and adds up the model FLOPs of what this rank computed in that time.
class TimedTask : public TrainingTask {
 public:
  TimedTask(VqaTrainingTask& inner, const std::vector<SampleShape>& shapes,
            const std::vector<int64_t>& records, const FlopModel& flops, int64_t warmup)
      : inner_(inner), shapes_(shapes), records_(records), flops_(flops), warmup_(warmup) {}
  torch::nn::Module& module() override { return inner_.module(); }
  int64_t num_train_samples() const override { return inner_.num_train_samples(); }
  torch::Tensor loss_sum(const std::vector<int64_t>& samples) override {
    if (calls_++ == warmup_) start_ = Clock::now();
    if (calls_ > warmup_) {
      std::vector<const SampleShape*> batch;
      for (int64_t s : samples) batch.push_back(&shapes_[static_cast<size_t>(s)]);
      model_flops_ += 3.0 * forward_flops(flops_, batch);
      timed_samples_ += static_cast<double>(samples.size());
    }
    return inner_.loss_sum(samples);
  }
  std::string end_of_epoch(int64_t, Communicator&) override {
    seconds_ = seconds_since(start_);
    return "";
  }
  double seconds() const { return seconds_; }
  double model_flops() const { return model_flops_; }
  double timed_samples() const { return timed_samples_; }

 private:
  VqaTrainingTask& inner_;
  const std::vector<SampleShape>& shapes_;
  const std::vector<int64_t>& records_;
  FlopModel flops_;
  int64_t warmup_;
  int64_t calls_ = 0;
  Clock::time_point start_ = Clock::now();
  double seconds_ = 0, model_flops_ = 0, timed_samples_ = 0;
};

// The mid-size config: the tiny one scaled to hidden 512 / 4 layers / vision 128 × 4 blocks.
std::string write_mid_config(const std::string& tiny_path, const fs::path& dir) {
  std::ifstream in(tiny_path);
  nlohmann::json c = nlohmann::json::parse(in);
  c["hidden_size"] = 512;
  c["intermediate_size"] = 1376;
  c["num_hidden_layers"] = 4;
  c["num_attention_heads"] = 8;
  c["num_key_value_heads"] = 2;
  c["rope_scaling"]["mrope_section"] = {8, 12, 12};  // head_dim 64: 8 + 12 + 12 = 32 pairs
  c["initializer_range"] = 0.044;
  c["vision_config"]["embed_dim"] = 128;
  c["vision_config"]["depth"] = 4;
  c["vision_config"]["hidden_size"] = 512;
  const fs::path path = dir / "mid-qwen2-vl.json";
  std::ofstream(path) << c.dump(2);
  return path.string();
}

void run_size(const std::string& size, const std::string& config_path, const fs::path& work,
              int64_t samples, int64_t global_batch, double gemm_per_rank, Communicator& comm) {
  const fs::path model_dir = work / ("model-" + size);
  if (comm.rank() == 0) {
    models::PreprocessorSettings preprocessor;
    preprocessor.min_pixels = preprocessor.max_pixels = 3136;
    models::init_model_folder(config_path, model_dir.string(), 0, preprocessor);
  }
  comm.barrier();
  const fs::path data_dir = work / "data";
  const auto records = data::read_records((data_dir / "train.json").string());
  const data::Tokenizer tokenizer =
      data::Tokenizer::from_file((data_dir / "tokenizer.json").string());
  config::PromptConfig prompt;  // as configs/demo.yaml asks
  prompt.system_message = "";
  prompt.overall_question = "Does this image match \"{prompt}\"? Rate from 1 to 5.";
  const auto overall_labels =
      data::resolve_label_set(tokenizer, prompt.overall_labels, false, "prompt.overall_labels");
  const auto element_labels = data::resolve_label_set(tokenizer, prompt.element_labels,
                                                      prompt.sum_case_variants, "element_labels");
  const auto overall = losses::label_head_from(overall_labels);
  const auto element = losses::label_head_from(element_labels);

  torch::manual_seed(0);
  auto model = models::load_backbone(model_dir.string());
  const auto hf = models::read_hf_config((model_dir / "config.json").string());
  auto settings = data::read_image_processor_settings(model_dir.string());
  settings.min_pixels = settings.max_pixels = 3136;
  const auto processor = data::make_image_processor(settings);
  data::BatchBuilderOptions options;
  options.image_root = data_dir.string();
  options.chat_template = data::chat_template_for_model_type(model->model_type());
  options.system_message = prompt.system_message;
  options.overall_question = prompt.overall_question;
  options.element_question = prompt.element_question;
  options.element_questions = true;
  const data::BatchBuilder builder(records, *processor, tokenizer, overall_labels, element_labels,
                                   options);
  std::vector<int64_t> train(static_cast<size_t>(std::min<int64_t>(samples, records.size())));
  for (size_t i = 0; i < train.size(); ++i) train[i] = static_cast<int64_t>(i);
  std::vector<SampleShape> shapes;
  for (int64_t r : train) {
    const data::Batch batch = builder.build({r});
    SampleShape shape;
    for (int64_t row = 0; row < batch.num_rows(); ++row) {  // packed: one row per sample
      int64_t real = 0;
      for (int64_t t = 0; t < batch.seq_len; ++t)
        real += batch.attention_mask[static_cast<size_t>(row * batch.seq_len + t)] != 0;
      shape.lengths.push_back(real);
    }
    for (const auto& image : batch.images) shape.patches += image.shape.at(0);
    shapes.push_back(shape);
  }
  config::LossConfig loss_config;
  const losses::TfPsLoss loss(loss_config, overall, element);
  VqaTrainingTask inner(*model, builder, train, loss, overall, element, comm, nullptr);
  TimedTask task(inner, shapes, train, flop_model(*model, hf), 2);

  LoopOptions loop;
  loop.optim.lr = 5e-4;
  loop.optim.epochs = 1;
  loop.optim.micro_batch_size = global_batch / comm.world_size();
  loop.output.log_every_steps = 1000000;
  loop.checkpoint_dir = (work / ("checkpoints-" + size)).string();
  loop.config_hash = "bench-" + size;
  loop.label = size;
  run_training(task, comm, loop);

  // Every rank's own samples, FLOPs and time: the rate is the global samples over the slowest.
  auto totals = torch::tensor({task.timed_samples(), task.model_flops()}, torch::kDouble);
  comm.all_reduce(totals, ReduceOp::kSum);
  auto slowest = torch::tensor({task.seconds()}, torch::kDouble);
  const auto all = comm.all_gather_rows(slowest);
  const double seconds = all.max().item<double>();
  if (comm.rank() == 0) {
    int64_t parameters = 0;
    for (const auto& p : model->parameters()) parameters += p.numel();
    const double rate = totals[0].item<double>() / seconds;
    const double gflops = totals[1].item<double>() / seconds / 1e9;
    const double peak = gemm_per_rank * comm.world_size();
    std::printf(
        "%s: %s, %.2fM parameters, %lld samples (first 2 micro-batches untimed), global batch "
        "%lld, %d rank(s)\n",
        size.c_str(), config_path.c_str(), parameters / 1e6, static_cast<long long>(train.size()),
        static_cast<long long>(global_batch), comm.world_size());
    std::printf(
        "RESULT size=%s ranks=%d samples_per_s=%.2f model_gflops=%.2f gemm_peak_gflops=%.2f "
        "fraction_of_peak=%.3f\n",
        size.c_str(), comm.world_size(), rate, gflops, peak, gflops / peak);
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string repo = argc > 1 ? argv[1] : ".";
  const int64_t tiny_samples = argc > 2 ? std::atoll(argv[2]) : 192;
  const int64_t mid_samples = argc > 3 ? std::atoll(argv[3]) : 48;
  const int64_t global_batch = argc > 4 ? std::atoll(argv[4]) : 8;
  auto comm = make_communicator({"mpi", 600.0});
  log::set_rank(comm->rank(), comm->world_size());
  log::set_level(log::Level::kWarn);
  const int threads = configure_cpu_threads(*comm, 0);
  if (global_batch % comm->world_size() != 0) {
    std::fprintf(stderr, "global_batch %lld is not a multiple of %d ranks\n",
                 static_cast<long long>(global_batch), comm->world_size());
    return 1;
  }
  const fs::path work =
      fs::temp_directory_path() /
      ("tokenfocus-bench-vlm-" + comm->all_gather_bytes(std::to_string(getpid()))[0]);
  const std::string tiny = repo + "/configs/models/tiny-qwen2-vl.json";
  if (comm->rank() == 0) {
    fs::create_directories(work);
    data::SyntheticOptions synth;
    synth.train_samples = std::max(tiny_samples, mid_samples);
    synth.test_samples = 0;
    data::write_synthetic_dataset((work / "data").string(), synth);
    write_mid_config(tiny, work);
  }
  comm->barrier();
  comm->barrier();  // every rank measures its sgemm rate at the same time, as they will train
  const double gemm = tokenfocus::bench::sgemm_1024_gflops(1.0);
  if (comm->rank() == 0)
    std::printf("GEMM 1024² float32: %.2f GFLOP/s per rank (%d thread(s) each)\n", gemm, threads);
  run_size("tiny", tiny, work, tiny_samples, global_batch, gemm, *comm);
  run_size("mid", (work / "mid-qwen2-vl.json").string(), work, mid_samples, global_batch, gemm,
           *comm);
  comm->barrier();
  if (comm->rank() == 0) fs::remove_all(work);
  return 0;
}
