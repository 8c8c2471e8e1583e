// Shared-prefix packing against one row per question (what every public VLM trainer does), on the
// real training path (collate, backbone, TF+PS loss, reducer, AdamW) on N ranks:
//   mpirun -np 2 bench_trainer_packing [REPO=.] [samples=16]
// For Qwen2-VL and InternVL2.5 (the tiny demo configs, images of 56, 224 and 448 px: 4, 64 and 256
// image tokens; InternVL with its tile set to the image size) and E = 0, 3, 6 element questions,
// it prints training samples/s and decoder FLOPs per sample both ways and their ratios, then the
// decoder-FLOP ratio the same layouts give at the NTIRE setting (Qwen2-VL-7B, 1,280 image tokens,
// E = 6) from the model's shapes.
//
// Decoder FLOPs are counted from what ran: per forward, rows × S positions through 2·(linear
// weights per layer) plus 4·S²·H of attention per layer (every layer, as hidden_at stops only
// after the last queried position); training = 3 × forward. The vision tower, run once per image
// either way, is left out of the count but not out of the time.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/config/sections/loss.h"
#include "common/config/sections/prompt.h"
#include "common/log.h"
#include "data/chat_template.h"
#include "data/collate.h"
#include "data/label_set.h"
#include "data/records.h"
#include "data/synthetic.h"
#include "data/tokenizer.h"
#include "losses/batch_targets.h"
#include "losses/label_head.h"
#include "losses/tf_ps_loss.h"
#include "models/batch_tensors.h"
#include "models/init.h"
#include "models/internvl_init.h"
#include "models/registry.h"
#include "trainer/communicator.h"
#include "trainer/cpu_threads.h"
#include "trainer/training_loop.h"

using namespace tokenfocus;
using namespace tokenfocus::trainer;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

struct Family {
  std::string name, config;  // config: configs/models/<file>
  bool internvl = false;
};

// Decoder FLOPs of one forward over a collated batch.
double decoder_flops(const data::Batch& batch, double linear_per_layer, int64_t layers,
                     int64_t hidden) {
  const double rows = static_cast<double>(batch.num_rows()), s = static_cast<double>(batch.seq_len);
  return static_cast<double>(layers) *
         (2 * rows * s * linear_per_layer + 4.0 * rows * s * s * static_cast<double>(hidden));
}

// Trains on prepared samples; times the steps after the first `warmup` micro-batches.
class PreparedTask : public TrainingTask {
 public:
  PreparedTask(models::Backbone& model, std::vector<data::PreparedSample> samples,
               data::PackingOptions packing, const losses::TfPsLoss& loss,
               const losses::LabelHead& overall, const losses::LabelHead& element,
               double linear_per_layer, int64_t layers, int64_t hidden)
      : model_(model),
        samples_(std::move(samples)),
        packing_(packing),
        loss_(loss),
        overall_(overall),
        element_(element),
        linear_(linear_per_layer),
        layers_(layers),
        hidden_(hidden) {}
  torch::nn::Module& module() override { return model_; }
  int64_t num_train_samples() const override { return static_cast<int64_t>(samples_.size()); }
  torch::Tensor loss_sum(const std::vector<int64_t>& samples) override {
    if (calls_++ == kWarmup) start_ = Clock::now();
    std::vector<data::PreparedSample> chosen;
    for (int64_t s : samples) chosen.push_back(samples_[static_cast<size_t>(s)]);
    const data::Batch batch = data::collate_samples(std::move(chosen), 0, packing_);
    if (calls_ > kWarmup) {
      flops_ += 3.0 * decoder_flops(batch, linear_, layers_, hidden_);
      timed_ += static_cast<double>(samples.size());
    }
    model_.train();
    const torch::Tensor hidden = models::hidden_at_batch(model_, batch, 0);
    const auto terms = loss_(hidden, model_.lm_head_weight(),
                             losses::question_targets_from(batch, overall_, element_));
    return terms.objective * static_cast<double>(samples.size());
  }
  std::string end_of_epoch(int64_t, Communicator&) override {
    seconds_ = std::chrono::duration<double>(Clock::now() - start_).count();
    return "";
  }
  double seconds() const { return seconds_; }
  double flops() const { return flops_; }
  double timed() const { return timed_; }

 private:
  static constexpr int64_t kWarmup = 1;
  models::Backbone& model_;
  std::vector<data::PreparedSample> samples_;
  data::PackingOptions packing_;
  const losses::TfPsLoss& loss_;
  const losses::LabelHead &overall_, &element_;
  double linear_;
  int64_t layers_, hidden_;
  int64_t calls_ = 0;
  Clock::time_point start_ = Clock::now();
  double seconds_ = 0, flops_ = 0, timed_ = 0;
};

// The family's tiny config with its image settings for `px` (InternVL: one tile of px).
std::string config_for(const Family& family, const std::string& repo, int64_t px,
                       const fs::path& dir) {
  std::ifstream in(repo + "/configs/models/" + family.config);
  nlohmann::json c = nlohmann::json::parse(in);
  if (family.internvl) {
    c["force_image_size"] = px;
    c["vision_config"]["image_size"] = px;
    c["max_dynamic_patch"] = 1;
    c["use_thumbnail"] = false;
  }
  const fs::path path = dir / (family.name + "-" + std::to_string(px) + ".json");
  std::ofstream(path) << c.dump(2);
  return path.string();
}

// Random pixels of the family's layout for a px × px image, and its image-token count.
data::BatchImage random_image(const Family& family, int64_t px, int64_t& tokens) {
  data::BatchImage image;
  const int64_t patches = px / 14;
  if (family.internvl) {
    image.shape = {1, 3, px, px};
    tokens = patches * patches / 4;  // pixel shuffle 0.5
  } else {
    image.shape = {patches * patches, 3 * 2 * 14 * 14};
    image.grid_thw = {1, patches, patches};
    tokens = patches * patches / 4;  // 2×2 merge
  }
  int64_t count = 1;
  for (int64_t d : image.shape) count *= d;
  const torch::Tensor pixels = torch::randn({count});
  image.pixel_values.assign(pixels.data_ptr<float>(), pixels.data_ptr<float>() + count);
  return image;
}

// The records' prompts and element names as the demo asks them, E elements each (names reused
// when a record has fewer).
std::vector<data::PreparedSample> prepare_samples(const Family& family, models::Backbone& model,
                                                  const std::vector<data::Record>& records,
                                                  const data::Tokenizer& tokenizer,
                                                  const losses::LabelHead& overall, int64_t count,
                                                  int64_t px, int64_t elements) {
  const config::PromptConfig prompt;
  const auto kind = data::chat_template_for_model_type(model.model_type());
  std::vector<data::PreparedSample> samples;
  for (int64_t i = 0; i < count; ++i) {
    const data::Record& record = records[static_cast<size_t>(i) % records.size()];
    data::PreparedSample sample;
    int64_t tokens = 0;
    sample.image = random_image(family, px, tokens);
    auto add = [&](const std::string& question, data::QuestionKind k, int64_t e) {
      const auto vqa = data::build_vqa_sequence(tokenizer, kind, question, tokens, "");
      data::PreparedSample::Question q;
      q.ids = vqa.input_ids;
      q.query_position = vqa.query_position;
      q.sequence.kind = k;
      q.sequence.element = e;
      q.sequence.target_value = k == data::QuestionKind::kOverall ? *record.mos : 1.0;
      q.sequence.target_token = overall.token_ids[0].item<int64_t>();
      q.sequence.target_distribution = k == data::QuestionKind::kOverall
                                           ? std::vector<float>{0, 0, 1, 0, 0}
                                           : std::vector<float>{1, 0};
      sample.questions.push_back(std::move(q));
    };
    add(data::fill_question(prompt.overall_question, "prompt", record.prompt),
        data::QuestionKind::kOverall, -1);
    for (int64_t e = 0; e < elements; ++e) {
      const auto& element = record.elements[static_cast<size_t>(e) % record.elements.size()];
      add(data::fill_question(prompt.element_question, "element", element.name),
          data::QuestionKind::kElement, e);
    }
    samples.push_back(std::move(sample));
  }
  return samples;
}

struct Measured {
  double samples_per_s = 0, flops_per_sample = 0;
};

Measured train_once(models::Backbone& model, std::vector<data::PreparedSample> samples,
                    bool packing, const losses::TfPsLoss& loss, const losses::LabelHead& overall,
                    const losses::LabelHead& element, const fs::path& work, const std::string& tag,
                    Communicator& comm) {
  // The decoder's layers: parameters under "layers.<i>." outside the vision tower.
  double linear = 0;
  int64_t layers = 0;
  for (const auto& item : model.named_parameters()) {
    const std::string& name = item.key();
    const auto at = name.find("layers.");
    if (at == std::string::npos || name.find("vision") != std::string::npos ||
        name.find("visual") != std::string::npos)
      continue;
    if (item.value().dim() == 2) linear += static_cast<double>(item.value().numel());
    layers = std::max<int64_t>(layers, std::atoll(name.c_str() + at + 7) + 1);
  }
  const int64_t hidden = model.lm_head_weight().size(1);
  PreparedTask task(model, std::move(samples), {packing, 0}, loss, overall, element,
                    linear / static_cast<double>(std::max<int64_t>(layers, 1)), layers, hidden);
  LoopOptions loop;
  loop.optim.lr = 1e-4;
  loop.optim.epochs = 1;
  loop.optim.micro_batch_size = 2;
  loop.output.log_every_steps = 1000000;
  loop.checkpoint_dir = (work / ("checkpoints-" + tag)).string();
  loop.config_hash = "bench-packing-" + tag;
  loop.label = tag;
  run_training(task, comm, loop);
  auto totals = torch::tensor({task.timed(), task.flops()}, torch::kDouble);
  comm.all_reduce(totals, ReduceOp::kSum);
  const double slowest =
      comm.all_gather_rows(torch::tensor({task.seconds()}, torch::kDouble)).max().item<double>();
  return {totals[0].item<double>() / slowest, totals[1].item<double>() / totals[0].item<double>()};
}

// Decoder FLOPs per sample at the NTIRE setting from Qwen2-VL-7B's shapes: a 1,280-token image,
// the chat template around it (~20 tokens), an overall question of ~40 tokens and E element
// questions of ~20; unpacked every question repeats the prefix.
void print_ntire_ratio() {
  const double hidden = 3584, layers = 28, intermediate = 18944, kv = 512;
  const double linear = hidden * (hidden + 2 * kv + hidden) + 3 * hidden * intermediate;
  const double prefix = 1280 + 20, overall = 40, element = 20, elements = 6;
  auto forward = [&](double rows, double s) {
    return layers * (2 * rows * s * linear + 4 * rows * s * s * hidden);
  };
  // Unpacked: 1 + E rows padded to the longest; packed: one row of prefix + every branch.
  const double unpacked = forward(1 + elements, prefix + overall);
  const double packed = forward(1, prefix + overall + elements * element);
  std::printf(
      "NTIRE setting (Qwen2-VL-7B, 1280 image tokens, E=6): decoder TFLOPs per sample unpacked "
      "%.2f, packed %.2f, ratio %.2fx\n",
      unpacked / 1e12, packed / 1e12, unpacked / packed);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string repo = argc > 1 ? argv[1] : ".";
  const int64_t count = argc > 2 ? std::atoll(argv[2]) : 16;
  auto comm = make_communicator({"mpi", 600.0});
  log::set_rank(comm->rank(), comm->world_size());
  log::set_level(log::Level::kWarn);
  const int threads = configure_cpu_threads(*comm, 0);
  const fs::path work =
      fs::temp_directory_path() /
      ("tokenfocus-bench-packing-" + comm->all_gather_bytes(std::to_string(getpid()))[0]);
  if (comm->rank() == 0) {
    fs::create_directories(work);
    data::SyntheticOptions synth;
    synth.train_samples = 32;
    synth.test_samples = 0;
    data::write_synthetic_dataset((work / "data").string(), synth);
    std::printf("%d rank(s), %d thread(s) each, %lld samples per run, micro-batch 2 per rank\n",
                comm->world_size(), threads, static_cast<long long>(count));
  }
  comm->barrier();
  const auto records = data::read_records((work / "data" / "train.json").string());
  const data::Tokenizer tokenizer =
      data::Tokenizer::from_file((work / "data" / "tokenizer.json").string());
  const config::PromptConfig prompt;
  const auto overall_labels =
      data::resolve_label_set(tokenizer, prompt.overall_labels, false, "prompt.overall_labels");
  const auto element_labels =
      data::resolve_label_set(tokenizer, prompt.element_labels, false, "prompt.element_labels");
  const auto overall = losses::label_head_from(overall_labels);
  const auto element = losses::label_head_from(element_labels);
  const losses::TfPsLoss loss(config::LossConfig{}, overall, element);

  const std::vector<Family> families{{"qwen2_vl", "tiny-qwen2-vl.json", false},
                                     {"internvl2_5", "tiny-internvl2.5.json", true}};
  for (const Family& family : families)
    for (int64_t px : {56, 224, 448}) {
      const fs::path dir = work / (family.name + "-" + std::to_string(px));
      if (comm->rank() == 0) {
        const std::string config = config_for(family, repo, px, work);
        if (family.internvl) {
          models::init_internvl_model_folder(config, dir.string(), 0);
        } else {
          models::PreprocessorSettings preprocessor;
          models::init_model_folder(config, dir.string(), 0, preprocessor);
        }
      }
      comm->barrier();
      for (int64_t elements : {0, 3, 6}) {
        Measured result[2];
        for (int packed = 0; packed < 2; ++packed) {
          torch::manual_seed(1);
          auto model = models::load_backbone(dir.string());
          auto samples =
              prepare_samples(family, *model, records, tokenizer, overall, count, px, elements);
          const std::string tag = family.name + "-" + std::to_string(px) + "-e" +
                                  std::to_string(elements) + (packed ? "-packed" : "-unpacked");
          result[packed] = train_once(*model, std::move(samples), packed == 1, loss, overall,
                                      element, work, tag, *comm);
        }
        if (comm->rank() == 0) {
          std::printf(
              "RESULT family=%s px=%lld E=%lld unpacked_samples_per_s=%.2f "
              "packed_samples_per_s=%.2f speedup=%.2f decoder_gflops_per_sample unpacked=%.3f "
              "packed=%.3f flop_ratio=%.2f\n",
              family.name.c_str(), static_cast<long long>(px), static_cast<long long>(elements),
              result[0].samples_per_s, result[1].samples_per_s,
              result[1].samples_per_s / result[0].samples_per_s, result[0].flops_per_sample / 1e9,
              result[1].flops_per_sample / 1e9,
              result[0].flops_per_sample / result[1].flops_per_sample);
          std::fflush(stdout);
        }
      }
    }
  comm->barrier();
  if (comm->rank() == 0) {
    print_ntire_ratio();
    fs::remove_all(work);
  }
  return 0;
}
