// Cost of the token-focus head against the full-sequence LM head that Hugging Face's training
// forward computes, forward + backward, in one run:
//   ours:     TfPsLoss on the B query rows (TF: full vocabulary row; PS + regression: |S| rows);
//   peer A:   the same full-sequence head in C++ libtorch (logits for all B·T tokens, fp32, shifted
//             cross-entropy with only the answer token labelled), i.e. what HF computes;
//   peer B:   HF's code path itself in PyTorch (.venv's torch 2.x):
//             logits = lm_head(h).float(); CrossEntropyLoss()(shift_logits, shift_labels).
// Prints times and the ratios. No assertions.
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <torch/torch.h>
#include <CLI/CLI.hpp>

#include "losses/tf_ps_loss.h"

namespace tl = tokenfocus::losses;

namespace {

struct Options {
  int64_t vocab = 151936, hidden = 3584, batch = 4, tokens = 64;
  int repeats = 3;
  int threads = 0;  // 0 = libtorch's default
  bool skip_python = false;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <class F>
double time_median(int repeats, F&& step) {
  step();  // warm-up (allocations, thread pool)
  std::vector<double> seconds;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    step();
    seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return median(seconds);
}

double focus_head_seconds(const Options& o, const torch::Tensor& weight) {
  torch::manual_seed(0);
  auto hidden = torch::randn({o.batch, o.hidden}).mul_(0.05).set_requires_grad(true);
  tokenfocus::config::LossConfig config;  // defaults: TF + PS + regression, soft targets
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 5; ++i) ids.push_back(16 + i);  // Qwen2: "1".."5" are ids 16..20
  const tl::TfPsLoss loss(config, tl::LabelHead::from_vectors(ids, {1, 2, 3, 4, 5}),
                          tl::LabelHead::from_vectors({9693, 2152}, {1, 0}));
  tl::QuestionTargets targets;
  targets.is_element = torch::zeros({o.batch}, torch::kBool);
  targets.target_token = torch::full({o.batch}, 19, torch::kInt64);
  targets.target_dist = torch::softmax(torch::randn({o.batch, 5}), 1);
  targets.target_value = torch::full({o.batch}, 3.5, torch::kFloat64);
  return time_median(o.repeats, [&] {
    weight.mutable_grad() = torch::Tensor();
    hidden.mutable_grad() = torch::Tensor();
    loss(hidden, weight, targets).objective.backward();
  });
}

double full_head_seconds(const Options& o, const torch::Tensor& weight) {
  torch::manual_seed(0);
  auto hidden = torch::randn({o.batch, o.tokens, o.hidden}).mul_(0.05).set_requires_grad(true);
  // Only the first answer token is labelled (-100 elsewhere), as a TF-only HF fine-tune would be.
  auto labels = torch::full({o.batch, o.tokens}, -100, torch::kInt64);
  labels.select(1, o.tokens - 1).fill_(19);
  return time_median(o.repeats, [&] {
    weight.mutable_grad() = torch::Tensor();
    hidden.mutable_grad() = torch::Tensor();
    const auto logits = torch::matmul(hidden, weight.t()).to(torch::kFloat);
    const auto shift_logits = logits.narrow(1, 0, o.tokens - 1).reshape({-1, o.vocab});
    const auto shift_labels = labels.narrow(1, 1, o.tokens - 1).reshape({-1});
    torch::nn::functional::cross_entropy(
        shift_logits, shift_labels,
        torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100))
        .backward();
  });
}

const char* kHuggingFaceHead = R"PY(
import sys, time, torch
V, H, B, T, R, threads = map(int, sys.argv[1:7])
if threads > 0: torch.set_num_threads(threads)
torch.manual_seed(0)
lm_head = torch.nn.Linear(H, V, bias=False)
with torch.no_grad(): lm_head.weight.normal_(0, 0.02)
h = (torch.randn(B, T, H) * 0.05).requires_grad_()
labels = torch.full((B, T), -100); labels[:, T - 1] = 19
def step():
    lm_head.weight.grad = None; h.grad = None
    # transformers' Qwen2ForCausalLM.forward (4.4x): full logits, upcast, shift, CE
    logits = lm_head(h).float()
    shift_logits = logits[..., :-1, :].contiguous().view(-1, V)
    shift_labels = labels[..., 1:].contiguous().view(-1)
    torch.nn.CrossEntropyLoss()(shift_logits, shift_labels).backward()
step()
times = []
for _ in range(R):
    t = time.perf_counter(); step(); times.append(time.perf_counter() - t)
print(sorted(times)[len(times) // 2])
)PY";

double python_full_head_seconds(const Options& o) {
  const auto script = std::filesystem::temp_directory_path() /
                      fmt::format("bench_losses_hf_head_{}.py", ::getpid());
  std::ofstream(script) << kHuggingFaceHead;
  const auto command = fmt::format("{} {} {} {} {} {} {} {}", TOKENFOCUS_REFERENCE_PYTHON,
                                   script.string(), o.vocab, o.hidden, o.batch, o.tokens, o.repeats,
                                   o.threads > 0 ? o.threads : torch::get_num_threads());
  FILE* pipe = popen(command.c_str(), "r");
  double seconds = -1;
  if (pipe) {
    if (std::fscanf(pipe, "%lf", &seconds) != 1) seconds = -1;
    pclose(pipe);
  }
  std::filesystem::remove(script);
  return seconds;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Focus head vs full-sequence LM head, forward + backward"};
  app.add_option("--vocab", o.vocab, "Vocabulary size (Qwen2: 151936)");
  app.add_option("--hidden", o.hidden, "Hidden size (Qwen2-7B: 3584)");
  app.add_option("--batch", o.batch, "Sequences per batch");
  app.add_option("--tokens", o.tokens, "Tokens per sequence for the full head (HF run: 1024)");
  app.add_option("--repeats", o.repeats, "Timed repetitions (median reported)");
  app.add_option("--threads", o.threads, "Intra-op threads for both (0 = default)");
  app.add_flag("--skip-python", o.skip_python, "Do not run the PyTorch peer");
  CLI11_PARSE(app, argc, argv);
  if (o.threads > 0) torch::set_num_threads(o.threads);

  std::printf("vocab %ld, hidden %ld, batch %ld, tokens %ld, threads %d, median of %d\n",
              static_cast<long>(o.vocab), static_cast<long>(o.hidden), static_cast<long>(o.batch),
              static_cast<long>(o.tokens), torch::get_num_threads(), o.repeats);
  double ours = 0, full = 0;
  {
    auto weight = (torch::randn({o.vocab, o.hidden}) * 0.02).set_requires_grad(true);
    ours = focus_head_seconds(o, weight);
    std::printf("focus head (ours, %ld query rows):      %9.3f s\n", static_cast<long>(o.batch),
                ours);
    full = full_head_seconds(o, weight);
    std::printf("full-sequence head (C++ libtorch, %ld rows): %9.3f s\n",
                static_cast<long>(o.batch * o.tokens), full);
  }  // frees the weight and its gradient before the python peer allocates its own
  std::printf("ratio full / focus (C++):                %9.1fx\n", full / ours);
  if (!o.skip_python) {
    const double hf = python_full_head_seconds(o);
    if (hf > 0) {
      std::printf("full-sequence head (PyTorch, HF code path): %9.3f s\n", hf);
      std::printf("ratio HF / focus:                        %9.1fx\n", hf / ours);
    } else {
      std::printf("PyTorch peer failed to run (%s)\n", TOKENFOCUS_REFERENCE_PYTHON);
    }
  }
  return 0;
}
