// Forward + backward of one training sample through a mid-size Qwen2-VL (text hidden 1024, 8
// layers; vision depth 8; one 448x448 image = 1024 patches → 256 image tokens; 128 text tokens):
// the loss is the cross-entropy of the first-answer-token logits (focus head). Compared with
// transformers' own Qwen2-VL (bench/model/qwen2_vl_reference.py, SDPA, logits_to_keep=1) on the
// same weights and inputs, in the same invocation; achieved FLOP/s against a square-GEMM peak
// measured here too.
//
// usage: bench_model_qwen2_vl [--steps N] [--threads T]   (T torch intra-op threads)
#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <torch/torch.h>

#include "models/init.h"
#include "models/registry.h"
#include "models/safetensors.h"

namespace fs = std::filesystem;
using namespace tokenfocus::models;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

HfModelConfig mid_config() {
  HfModelConfig c;
  c.model_type = "qwen2_vl";
  c.vocab_size = 8192;
  c.hidden_size = 1024;
  c.intermediate_size = 2816;
  c.num_hidden_layers = 8;
  c.num_attention_heads = 16;
  c.num_key_value_heads = 4;
  c.rms_norm_eps = 1e-6;
  c.mrope_section = {8, 12, 12};
  c.bos_token_id = 8100;
  c.eos_token_id = 8101;
  c.vision_start_token_id = 8102;
  c.vision_end_token_id = 8103;
  c.image_token_id = 8104;
  c.video_token_id = 8105;
  c.vision.depth = 8;
  c.vision.hidden_size = 512;
  c.vision.num_heads = 8;
  c.vision.hidden_act = "quick_gelu";
  c.vision.out_hidden_size = 1024;
  return c;
}

// Multiply-adds ×2 of every matmul in the forward pass; backward costs twice the forward.
double step_flops(const HfModelConfig& c, int64_t patches, int64_t seq) {
  const double P = patches, D = c.vision.hidden_size, S = seq, H = c.hidden_size;
  const double kv = c.num_key_value_heads * c.head_dim(), I = c.intermediate_size;
  double vision = 2 * P * 1176 * D;
  vision += c.vision.depth *
            (2 * P * D * 3 * D + 2 * P * D * D + 2 * 2 * P * D * 4 * D + 2 * 2 * P * P * D);
  vision += 2 * (P / 4) * (4 * D) * (4 * D) + 2 * (P / 4) * (4 * D) * H;
  double text =
      c.num_hidden_layers * (2 * S * H * (2 * H + 2 * kv) + 3 * 2 * S * H * I + 2 * 2 * S * S * H);
  text += 2 * H * c.vocab_size;
  return 3 * (vision + text);
}

double gemm_peak(int64_t n) {
  const torch::Tensor a = torch::randn({n, n}), b = torch::randn({n, n});
  torch::matmul(a, b);
  double best = 0.0;
  for (int i = 0; i < 3; ++i) {
    const double start = now();
    torch::matmul(a, b);
    best = std::max(best, 2.0 * n * n * n / (now() - start));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int steps = 3, threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--steps") steps = std::atoi(argv[i + 1]);
    if (flag == "--threads") threads = std::atoi(argv[i + 1]);
  }
  // The trainer's thread policy (trainer/cpu_threads.h), for us and for the peer: `threads` in
  // torch's intra-op pool, which also runs the wheel's MKL matrix products.
  torch::set_num_threads(threads);
  const HfModelConfig config = mid_config();
  const fs::path dir =
      fs::temp_directory_path() / ("tokenfocus_bench_model_" + std::to_string(getpid()));
  auto backbone = build_backbone(config);
  init_weights(*backbone, config, 0);
  write_model_folder(dir.string(), config, *backbone, {});

  // <text 64> <vs> <image_pad x256> <ve> <text 64>; one 448x448 image = 32x32 patches.
  std::vector<int64_t> ids;
  for (int i = 0; i < 64; ++i) ids.push_back(100 + i);
  ids.push_back(config.vision_start_token_id);
  for (int i = 0; i < 256; ++i) ids.push_back(config.image_token_id);
  ids.push_back(config.vision_end_token_id);
  for (int i = 0; i < 64; ++i) ids.push_back(300 + i);
  torch::manual_seed(0);
  ModelInputs inputs;
  inputs.input_ids = torch::tensor(ids, torch::kLong).unsqueeze(0);
  inputs.attention_mask = torch::ones_like(inputs.input_ids);
  inputs.pixel_values = torch::randn({1024, 1176});
  inputs.image_grid_thw = torch::tensor({1, 32, 32}, torch::kLong).view({1, 3});
  const torch::Tensor target = torch::tensor({42}, torch::kLong);
  save_safetensors((dir / "inputs.safetensors").string(),
                   {{"input_ids", inputs.input_ids},
                    {"pixel_values", inputs.pixel_values},
                    {"image_grid_thw", inputs.image_grid_thw},
                    {"target", target}});

  const int64_t seq = inputs.input_ids.size(1);
  const torch::Tensor query = torch::tensor({int64_t{0}, seq - 1}, torch::kLong).view({1, 2});
  backbone->train();
  auto step = [&] {
    backbone->zero_grad();
    const torch::Tensor loss = torch::nn::functional::cross_entropy(
        backbone->focus_logits(backbone->hidden_at(inputs, query)), target);
    loss.backward();
    return loss.item<double>();
  };
  const double our_loss = step();  // warm-up
  double total = 0.0;
  for (int i = 0; i < steps; ++i) {
    const double start = now();
    step();
    total += now() - start;
  }
  const double ours = total / steps;

  const std::string command = std::string(TOKENFOCUS_REFERENCE_PYTHON) + " " +
                              TOKENFOCUS_SOURCE_DIR + "/bench/model/qwen2_vl_reference.py " +
                              dir.string() + " " + (dir / "inputs.safetensors").string() + " " +
                              std::to_string(steps) + " " + std::to_string(threads);
  FILE* pipe = popen(command.c_str(), "r");
  char line[4096] = {0};
  double peer = 0.0, peer_loss = 0.0;
  if (pipe && std::fgets(line, sizeof line, pipe))
    std::sscanf(line, "{\"loss\": %lf, \"seconds_per_step\": %lf}", &peer_loss, &peer);
  const int status = pipe ? pclose(pipe) : -1;
  fs::remove_all(dir);

  const double flops = step_flops(config, 1024, seq);
  const double peak = gemm_peak(2048);
  std::printf(
      "model: Qwen2-VL text 1024x8 (GQA 16/4, MLP 2816, vocab 8192), vision 512x8, 448x448 image, "
      "%lld tokens; threads %d, %d timed steps\n",
      static_cast<long long>(seq), threads, steps);
  std::printf("loss: ours %.6f, transformers %.6f (same weights and inputs)\n", our_loss,
              peer_loss);
  std::printf(
      "forward+backward per sample: ours %.3f s, transformers %.3f s, ratio ours/transformers "
      "%.3f\n",
      ours, peer, peer > 0 ? ours / peer : 0.0);
  std::printf(
      "work %.1f GFLOP/step; achieved ours %.1f GFLOP/s, transformers %.1f GFLOP/s; GEMM peak "
      "(2048^3) "
      "%.1f "
      "GFLOP/s; ours/peak %.2f\n",
      flops / 1e9, flops / ours / 1e9, peer > 0 ? flops / peer / 1e9 : 0.0, peak / 1e9,
      flops / ours / peak);
  if (status != 0 || peer <= 0) {
    std::fprintf(stderr, "the transformers peer failed (status %d): %s\n", status, command.c_str());
    return 1;
  }
  if (std::abs(our_loss - peer_loss) > 1e-3 * std::max(1.0, std::abs(peer_loss))) {
    std::fprintf(stderr, "the peer computes different maths (loss %.6f vs %.6f)\n", our_loss,
                 peer_loss);
    return 1;
  }
  return 0;
}
