// A bf16 LoRA run of a randomly initialised 1.5 B-parameter Qwen2-VL (tests/gpu/qwen2-vl-1.5b.json:
// Qwen2-VL-2B's shapes with 13 of its 28 decoder layers) on 448-px synthetic images, 20 optimizer
// steps on one GPU through the trainer's path (tests/gpu/lora_train.yaml): the real binary's
// `prepare` makes the data (`data synth`) and the model folder (`model init`), then train_run, what
// `tokenfocus train` runs on each rank, runs in this process so that it can measure the GPU:
// tokens/s, model FLOP/s as a share of a bf16 GEMM rate measured here, and peak GPU memory, then
// the same run with distributed.zero: 1 and its peak, both beside what `tokenfocus plan` predicted
// for the run. Only that every step ran with a finite loss is asserted; the figures are printed.
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDACachingAllocator.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/config/run_config.h"
#include "data/batch_builder.h"
#include "data/chat_template.h"
#include "data/folds.h"
#include "data/label_set.h"
#include "data/records.h"
#include "data/tokenizer.h"
#include "gpu_support.h"
#include "models/hf_config.h"
#include "models/safetensors.h"
#include "scoring/scorer_folder.h"
#include "trainer/fold_runner.h"
#include "trainer/rank_start.h"

namespace tokenfocus {
namespace {

using gpu_testing::ScratchDir;
using gpu_testing::shell_quote;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// FLOP/s of an 8192³ bf16 matmul on this GPU: 10 products timed with CUDA events after 3 warm-ups.
double bf16_gemm_flops() {
  constexpr int64_t n = 8192;
  constexpr int reps = 10;
  const auto options = torch::TensorOptions().dtype(torch::kBFloat16).device(torch::kCUDA);
  const torch::Tensor a = torch::randn({n, n}, options), b = torch::randn({n, n}, options);
  for (int i = 0; i < 3; ++i) torch::matmul(a, b);
  at::cuda::CUDAEvent start(cudaEventDefault), stop(cudaEventDefault);
  start.record();
  for (int i = 0; i < reps; ++i) torch::matmul(a, b);
  stop.record();
  stop.synchronize();
  return reps * 2.0 * n * n * n / (start.elapsed_time(stop) / 1e3);
}

// The model folder's weights by part, from its safetensors header (no tensor data is read).
struct Weights {
  double total = 0;    // every parameter
  double decoder = 0;  // matrices of the decoder layers
  double vision = 0;   // patch embedding + matrices of the vision blocks (per patch)
  double merger = 0;   // the merger's matrices (per merged token)
  double lm_head = 0;  // vocab × hidden (tied to the embedding here), used at focus positions
};

Weights count_weights(const std::string& model_dir) {
  const auto file = models::SafetensorsFile::open(model_dir + "/model.safetensors");
  Weights w;
  for (const std::string& name : file.names()) {
    const auto& shape = file.entry(name).shape;
    double n = 1;
    for (int64_t d : shape) n *= static_cast<double>(d);
    w.total += n;
    const auto starts = [&](const char* prefix) { return name.rfind(prefix, 0) == 0; };
    if (name == "model.embed_tokens.weight") w.lm_head = n;
    if (shape.size() < 2) continue;
    if (starts("model.layers.")) w.decoder += n;
    if (starts("visual.blocks.") || starts("visual.patch_embed.")) w.vision += n;
    if (starts("visual.merger.")) w.merger += n;
  }
  return w;
}

// Real (unpadded) decoder tokens and model FLOPs of one sample's training step. Forward: 2 FLOPs
// per weight per token for every matrix, plus 4·n²·width per attention layer for the scores and
// the weighted sum (n = a question's tokens in the decoder, an image's patches in the vision
// tower); the LM head runs at each question's focus position only. All decoder layers are counted
// at every position (the trainer stops the last one at the focus position: a slight over-count).
// Backward with LoRA: the frozen decoder matrices need their input gradients only (about one more
// forward; the LoRA factors' own are negligible) and the frozen vision tower none, so a step is
// vision forward + 2 × decoder forward.
struct SampleCost {
  double tokens = 0, image_tokens = 0, flops = 0;
};
struct TrainingSet {
  size_t samples = 0;
  SampleCost mean;  // per training sample
};

SampleCost sample_cost(const data::Batch& batch, const Weights& w,
                       const models::HfModelConfig& config) {
  SampleCost cost;
  double decoder = 0, vision = 0;
  for (int64_t row = 0; row < batch.num_rows(); ++row) {  // packed rows: one per sample
    double s = 0;
    for (int64_t t = 0; t < batch.seq_len; ++t)
      s += batch.attention_mask[static_cast<size_t>(row * batch.seq_len + t)] != 0 ? 1.0 : 0.0;
    cost.tokens += s;
    decoder += 2 * w.decoder * s +
               4 * s * s * static_cast<double>(config.hidden_size * config.num_hidden_layers) +
               2 * w.lm_head;
  }
  const double merge =
      static_cast<double>(config.vision.spatial_merge_size * config.vision.spatial_merge_size);
  for (const auto& image : batch.images) {
    const double n = static_cast<double>(image.shape.at(0));
    cost.image_tokens += n / merge;
    vision += 2 * w.vision * n +
              4 * n * n * static_cast<double>(config.vision.hidden_size * config.vision.depth) +
              2 * w.merger * n / merge;
  }
  cost.flops = vision + 2 * decoder;
  return cost;
}

// Fold 0's training samples and their mean cost, each built alone as trainer/fold_runner.cpp
// builds its batches.
TrainingSet fold0_training_set(const config::RunConfig& run, const Weights& w,
                               const models::HfModelConfig& config) {
  const config::BackboneConfig& b = run.backbones.at(0);
  const auto records = data::read_records(run.data.train_records);
  const data::Tokenizer tokenizer = data::Tokenizer::from_file(b.tokenizer);
  const auto overall =
      data::resolve_label_set(tokenizer, run.prompt.overall_labels, false, "prompt.overall_labels");
  const auto element = data::resolve_label_set(
      tokenizer, run.prompt.element_labels, run.prompt.sum_case_variants, "prompt.element_labels");
  const auto processor = scoring::make_image_processor_for(b.model_dir, b.image);
  data::BatchBuilderOptions options;
  options.image_root = run.data.image_root;
  options.chat_template = data::chat_template_for_model_type(config.model_type);
  options.system_message = run.prompt.system_message;
  options.overall_question = run.prompt.overall_question;
  options.element_question = run.prompt.element_question;
  options.element_questions = run.prompt.element_questions;
  const data::BatchBuilder builder(records, *processor, tokenizer, overall, element, options);
  const auto training = data::load_or_make_folds(run.output.run_dir, records, run.folds.k,
                                                 static_cast<uint64_t>(run.folds.seed))
                            .training_indices(0);
  TrainingSet set;
  set.samples = training.size();
  for (int64_t record : training) {
    const SampleCost c = sample_cost(builder.build({record}), w, config);
    set.mean.tokens += c.tokens / static_cast<double>(training.size());
    set.mean.image_tokens += c.image_tokens / static_cast<double>(training.size());
    set.mean.flops += c.flops / static_cast<double>(training.size());
  }
  return set;
}

TEST(GpuLoraTraining, Bf16LoraOfA15BQwen2VlRunsTwentySteps) {
  TOKENFOCUS_REQUIRE_CUDA();
  const double gemm = bf16_gemm_flops();
  const ScratchDir scratch("tokenfocus-gpu-lora");
  const std::string work = scratch.path().string();
  const std::string source = TOKENFOCUS_SOURCE_DIR;
  const std::string yaml = source + "/tests/gpu/lora_train.yaml";
  const std::vector<std::string> paths = {
      "data.train_records=" + work + "/data/train.json",
      "data.test_records=" + work + "/data/test.json",
      "data.image_root=" + work + "/data",
      "backbones.0.model_dir=" + work + "/model",
      "backbones.0.tokenizer=" + work + "/data/tokenizer.json",
      "backbones.0.init_config=" + source + "/tests/gpu/qwen2-vl-1.5b.json",
      "output.run_dir=" + work + "/run"};

  // Before MPI starts in this process (no fork after MPI_Init).
  auto start = Clock::now();
  std::string prepare = shell_quote(TOKENFOCUS_EXE) + " prepare " + shell_quote(yaml);
  for (const std::string& p : paths) prepare += " --set " + shell_quote(p);
  ASSERT_EQ(std::system(prepare.c_str()), 0) << prepare;
  const double prepare_seconds = seconds_since(start);
  // What `tokenfocus plan` predicts for this run on this device (one rank), with and without
  // ZeRO-1, printed beside the measured peaks below. --measure-rows: the rows of the prepared data.
  std::string plan = shell_quote(TOKENFOCUS_EXE) + " plan " + shell_quote(yaml) +
                     " --world-size 1 --gpu-memory 80GiB --measure-rows";
  for (const std::string& p : paths) plan += " --set " + shell_quote(p);
  plan += " > " + shell_quote(work + "/plan.txt") + " 2>&1";
  ASSERT_EQ(std::system(plan.c_str()), 0) << plan;

  const auto run = config::load_run_config(yaml, paths);
  const std::string model_dir = run.config.backbones.at(0).model_dir;
  const Weights weights = count_weights(model_dir);
  const auto model_config = models::read_hf_config(model_dir + "/config.json");
  auto comm = trainer::start_rank(run.config.distributed);
  ASSERT_EQ(comm->backend(), "nccl");
  const c10::DeviceIndex device = comm->device().index();
  c10::cuda::CUDACachingAllocator::resetPeakStats(device);
  start = Clock::now();
  ASSERT_EQ(trainer::train_run(run, trainer::TrainSelection{}, *comm), 0);
  const double train_seconds = seconds_since(start);
  const auto memory = c10::cuda::CUDACachingAllocator::getDeviceStats(device);
  const auto aggregate = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
  // The same run with ZeRO-1 (one rank: the optimizer state is the whole shard, the path is the
  // reduce-scatter / all-gather one).
  std::vector<std::string> zero_paths = paths;
  zero_paths.back() = "output.run_dir=" + work + "/run-zero1";
  zero_paths.push_back("distributed.zero=1");
  const auto zero_run = config::load_run_config(yaml, zero_paths);
  c10::cuda::CUDACachingAllocator::emptyCache();
  c10::cuda::CUDACachingAllocator::resetPeakStats(device);
  ASSERT_EQ(trainer::train_run(zero_run, trainer::TrainSelection{}, *comm), 0);
  const auto zero_memory = c10::cuda::CUDACachingAllocator::getDeviceStats(device);

  std::vector<double> losses, rates;
  const std::string metrics_path =
      run.config.output.run_dir + "/metrics/" + run.config.backbones.at(0).name + "-fold0.jsonl";
  std::ifstream metrics(metrics_path);
  ASSERT_TRUE(metrics) << "no metrics log " << metrics_path;
  for (std::string line; std::getline(metrics, line);) {
    const auto entry = nlohmann::json::parse(line);
    if (entry.at("type") != "train") continue;
    losses.push_back(entry.at("loss").get<double>());
    rates.push_back(entry.at("samples_per_s").get<double>());
  }
  const TrainingSet training = fold0_training_set(run.config, weights, model_config);
  const SampleCost& per_sample = training.mean;
  const auto micro_batch = static_cast<size_t>(run.config.optim.micro_batch_size);
  EXPECT_EQ(losses.size(), (training.samples + micro_batch - 1) / micro_batch)
      << "one logged window per optimizer step (one rank, no accumulation)";
  EXPECT_GE(losses.size(), 20u) << "lora_train.yaml is meant to give 20 steps";
  for (size_t i = 0; i < losses.size(); ++i)
    EXPECT_TRUE(std::isfinite(losses[i])) << "step " << i + 1 << " loss " << losses[i];
  ASSERT_GT(rates.size(), 4u);

  // Steady state: the median step after the first three (cuBLAS/cuDNN set-up, allocator growth).
  std::vector<double> steady(rates.begin() + 3, rates.end());
  std::nth_element(steady.begin(), steady.begin() + steady.size() / 2, steady.end());
  const double samples_per_s = steady[steady.size() / 2];
  const double model_flops = samples_per_s * per_sample.flops;
  const double gib = 1024.0 * 1024.0 * 1024.0;
  std::printf(
      "[gpu-lora] %.3f B parameters (decoder matrices %.3f B, vision %.3f B); precision %s, LoRA "
      "r=%lld, micro-batch %zu; per sample %.0f decoder tokens over its questions, %.0f of its "
      "image\n",
      weights.total / 1e9, weights.decoder / 1e9, (weights.vision + weights.merger) / 1e9,
      run.config.optim.precision.c_str(),
      static_cast<long long>(run.config.backbones.at(0).lora.rank), micro_batch, per_sample.tokens,
      per_sample.image_tokens);
  std::printf("[gpu-lora] %zu steps, loss %.4f -> %.4f; prepare %.1f s, train_run %.1f s\n",
              losses.size(), losses.front(), losses.back(), prepare_seconds, train_seconds);
  std::printf(
      "[gpu-lora] steady step (median of steps 4..%zu): %.2f samples/s = %.0f tokens/s; model "
      "%.1f TFLOP/s = %.1f %% of the bf16 GEMM rate measured here (8192^3: %.1f TFLOP/s)\n",
      rates.size(), samples_per_s, samples_per_s * per_sample.tokens, model_flops / 1e12,
      100.0 * model_flops / gemm, gemm / 1e12);
  std::printf("[gpu-lora] peak GPU memory: %.2f GiB allocated, %.2f GiB reserved\n",
              static_cast<double>(memory.allocated_bytes[aggregate].peak) / gib,
              static_cast<double>(memory.reserved_bytes[aggregate].peak) / gib);
  std::printf("[gpu-lora] peak GPU memory with ZeRO-1: %.2f GiB allocated, %.2f GiB reserved\n",
              static_cast<double>(zero_memory.allocated_bytes[aggregate].peak) / gib,
              static_cast<double>(zero_memory.reserved_bytes[aggregate].peak) / gib);
  std::ifstream plan_text(work + "/plan.txt");
  for (std::string line; std::getline(plan_text, line);)
    if (line.find("total") != std::string::npos) std::printf("[gpu-lora] plan: %s\n", line.c_str());
  RecordProperty("tokens_per_s", std::to_string(samples_per_s * per_sample.tokens));
  RecordProperty("gemm_share", std::to_string(model_flops / gemm));
}

}  // namespace
}  // namespace tokenfocus
