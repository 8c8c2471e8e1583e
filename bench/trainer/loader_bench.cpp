// The training input pipeline at the NTIRE recipe's image settings (Qwen2-VL, max_pixels
// 1,003,520: a 1024² JPEG becomes 1008² = 1,296 image tokens), on real-size JPEGs:
//   bench_trainer_loader [REPO=.] [files=16] [size=1024]
// 1. Pipeline throughput, images/s: decode + resize + normalise + patchify + tokenise the sample's
//    questions (overall + its elements) + collate, ours (BatchBuilder, 1 and 2 threads) against
//    Pillow decoding + Hugging Face's Qwen2VLImageProcessor + the same tokenizer.json through
//    PreTrainedTokenizerFast on the same files and texts (1 and 2 Python threads), best of 3.
// 2. Data wait as a share of the training step: the tiny Qwen2-VL trained on those samples
//    (micro-batch 2, one rank) with data.loader.workers 0 (batches built in the step) and 2.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

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
#include "losses/tf_ps_loss.h"
#include "models/init.h"
#include "models/registry.h"
#include "trainer/communicator.h"
#include "trainer/cpu_threads.h"
#include "trainer/training_loop.h"
#include "trainer/vqa_task.h"

using namespace tokenfocus;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kMaxPixels = 1003520, kMinPixels = 3136;

constexpr const char* kPeer = R"PY(
import sys, os, json, time
from PIL import Image
from concurrent.futures import ThreadPoolExecutor
mode, folder = sys.argv[1], sys.argv[2]
from transformers import Qwen2VLImageProcessor, PreTrainedTokenizerFast
threads = int(sys.argv[3])
work = json.load(open(os.path.join(folder, 'peer.json')))
processor = Qwen2VLImageProcessor(min_pixels=work['min_pixels'], max_pixels=work['max_pixels'])
tokenizer = PreTrainedTokenizerFast(tokenizer_file=work['tokenizer'])
def one(item):
    pixels = processor(images=[Image.open(item['path']).convert('RGB')], return_tensors='np')
    ids = tokenizer(item['texts'])['input_ids']
    return pixels['pixel_values'].shape[0] + len(ids)
best = 1e30
for _ in range(3):
    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, work['items']))
    best = min(best, time.perf_counter() - t0)
print(f"{len(work['items']) / best:.3f}")
)PY";

std::string run(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run " + command);
  std::string out;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  if (::pclose(pipe) != 0) throw std::runtime_error("failed: " + command + "\n" + out);
  return out;
}

double ours_images_per_s(const data::BatchBuilder& builder, int64_t count, int threads) {
  double best = 1e30;
  for (int round = 0; round < 3; ++round) {
    std::atomic<int64_t> next{0};
    const auto t0 = Clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&] {
        for (int64_t i; (i = next++) < count;) builder.build({i});
      });
    for (auto& t : pool) t.join();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return static_cast<double>(count) / best;
}

// Forwards to the real task and adds up the step's data wait and the wall time of the run.
class WaitTotals : public trainer::TrainingTask {
 public:
  explicit WaitTotals(trainer::VqaTrainingTask& inner) : inner_(inner) {}
  torch::nn::Module& module() override { return inner_.module(); }
  int64_t num_train_samples() const override { return inner_.num_train_samples(); }
  torch::Tensor loss_sum(const std::vector<int64_t>& samples) override {
    return inner_.loss_sum(samples);
  }
  void begin_epoch(int64_t epoch, const std::vector<std::vector<int64_t>>& plan) override {
    inner_.begin_epoch(epoch, plan);
  }
  double take_data_wait_seconds() override {
    const double s = inner_.take_data_wait_seconds();
    total += s;
    return s;
  }
  double total = 0;

 private:
  trainer::VqaTrainingTask& inner_;
};

}  // namespace

int main(int argc, char** argv) {
  const std::string repo = argc > 1 ? argv[1] : ".";
  const int64_t files = argc > 2 ? std::atoll(argv[2]) : 16;
  const int64_t size = argc > 3 ? std::atoll(argv[3]) : 1024;
  auto comm = trainer::make_communicator({"mpi", 600.0});
  log::set_level(log::Level::kWarn);
  const int threads = trainer::configure_cpu_threads(*comm, 0);
  const fs::path work =
      fs::temp_directory_path() / ("tokenfocus-bench-loader-" + std::to_string(::getpid()));
  fs::create_directories(work / "images");
  const fs::path script = work / "peer.py";
  std::ofstream(script) << kPeer;
  const std::string python = std::string(TOKENFOCUS_REFERENCE_PYTHON) + " " + script.string() + " ";
  run(std::string(TOKENFOCUS_REFERENCE_PYTHON) + " " + repo + "/bench/image/make_images.py " +
      (work / "images").string() + " " + std::to_string(files) + " " + std::to_string(size) +
      " jpeg");

  // Records: the synthetic set's prompts and elements (and its tokenizer), on the JPEG files.
  data::SyntheticOptions synth;
  synth.train_samples = files;
  synth.test_samples = 0;
  data::write_synthetic_dataset((work / "data").string(), synth);
  auto records = data::read_records((work / "data" / "train.json").string());
  for (int64_t i = 0; i < files; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "img%03lld.jpg", static_cast<long long>(i));
    records[static_cast<size_t>(i)].img_path = name;
  }
  const std::string tokenizer_path = (work / "data" / "tokenizer.json").string();
  const data::Tokenizer tokenizer = data::Tokenizer::from_file(tokenizer_path);
  config::PromptConfig prompt;
  prompt.system_message = "";
  const auto overall_labels =
      data::resolve_label_set(tokenizer, prompt.overall_labels, false, "prompt.overall_labels");
  const auto element_labels =
      data::resolve_label_set(tokenizer, prompt.element_labels, false, "prompt.element_labels");
  data::ImageProcessorSettings settings;
  settings.model_type = "qwen2_vl";
  settings.min_pixels = kMinPixels;
  settings.max_pixels = kMaxPixels;
  const auto processor = data::make_image_processor(settings);
  auto options = data::BatchBuilderOptions::for_prompt(prompt, data::ChatTemplateKind::kQwen2VL);
  options.image_root = (work / "images").string();
  const data::BatchBuilder builder(records, *processor, tokenizer, overall_labels, element_labels,
                                   options);

  // The peer's work list: the same files and the same question texts (image pads expanded).
  nlohmann::json peer{{"min_pixels", kMinPixels},
                      {"max_pixels", kMaxPixels},
                      {"tokenizer", tokenizer_path},
                      {"items", nlohmann::json::array()}};
  int64_t image_tokens = 0, questions = 0;
  for (const auto& record : records) {
    const auto image = data::decode_image_file((work / "images" / record.img_path).string());
    const int64_t tokens = processor->process(image).num_image_tokens;
    image_tokens = tokens;
    nlohmann::json texts = nlohmann::json::array();
    texts.push_back(data::render_vqa_prompt(
        options.chat_template,
        data::fill_question(prompt.overall_question, "prompt", record.prompt), tokens,
        prompt.system_message));
    for (const auto& element : record.elements)
      texts.push_back(data::render_vqa_prompt(
          options.chat_template,
          data::fill_question(prompt.element_question, "element", element.name), tokens,
          prompt.system_message));
    questions += static_cast<int64_t>(texts.size());
    peer["items"].push_back(
        {{"path", (work / "images" / record.img_path).string()}, {"texts", texts}});
  }
  std::ofstream(work / "images" / "peer.json") << peer.dump();
  std::printf("%lld %lldx%lld JPEGs (q90) -> %lld image tokens each, %.1f questions per image\n",
              static_cast<long long>(files), static_cast<long long>(size),
              static_cast<long long>(size), static_cast<long long>(image_tokens),
              static_cast<double>(questions) / static_cast<double>(files));
  for (int t : {1, 2}) {
    const double ours = ours_images_per_s(builder, files, t);
    const double theirs =
        std::stod(run(python + "time " + (work / "images").string() + " " + std::to_string(t)));
    std::printf(
        "RESULT pipeline threads=%d ours_images_per_s=%.2f peer_images_per_s=%.2f ratio=%.2f\n", t,
        ours, theirs, ours / theirs);
    std::fflush(stdout);
  }

  // Data wait in training, workers 0 vs 2.
  const fs::path model_dir = work / "model";
  models::PreprocessorSettings preprocessor;
  preprocessor.min_pixels = kMinPixels;
  preprocessor.max_pixels = kMaxPixels;
  models::init_model_folder(repo + "/configs/models/tiny-qwen2-vl.json", model_dir.string(), 0,
                            preprocessor);
  const auto overall = losses::label_head_from(overall_labels);
  const auto element = losses::label_head_from(element_labels);
  const losses::TfPsLoss loss(config::LossConfig{}, overall, element);
  std::vector<int64_t> train(static_cast<size_t>(files));
  for (int64_t i = 0; i < files; ++i) train[static_cast<size_t>(i)] = i;
  for (int64_t workers : {0, 2}) {
    torch::manual_seed(0);
    auto model = models::load_backbone(model_dir.string());
    trainer::VqaTrainingTask inner(*model, builder, train, loss, overall, element, *comm, nullptr);
    inner.set_loader(workers, 4);
    WaitTotals task(inner);
    trainer::LoopOptions loop;
    loop.optim.lr = 1e-4;
    loop.optim.epochs = 1;
    loop.optim.micro_batch_size = 2;
    loop.output.log_every_steps = 1000000;
    loop.checkpoint_dir = (work / ("checkpoints-" + std::to_string(workers))).string();
    loop.config_hash = "bench-loader-" + std::to_string(workers);
    loop.label = "loader";
    const auto t0 = Clock::now();
    trainer::run_training(task, *comm, loop);
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf(
        "RESULT training workers=%lld seconds=%.2f data_wait_s=%.2f data_wait_share=%.3f "
        "samples_per_s=%.2f (%d torch thread(s))\n",
        static_cast<long long>(workers), seconds, task.total, task.total / seconds,
        static_cast<double>(files) / seconds, threads);
    std::fflush(stdout);
  }
  fs::remove_all(work);
  return 0;
}
