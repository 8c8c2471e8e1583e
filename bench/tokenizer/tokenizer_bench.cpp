// bench_tokenizer: encode throughput of data::Tokenizer on the golden texts and on a large corpus
// of T2I prompts and VQA questions, 1 and 2 threads, against Hugging Face's Rust `tokenizers`
// (PyPI's binding, rust_tokenizers_peer.py under the reference Python) on the same texts in the
// same run. No assertions.
//
//   bench_tokenizer [--tokenizer FILE] [--prompts N] [--passes P]
// Defaults: ../shared/golden/tokenizer/tokenizer.json (run from the source root), 20000 prompts,
// 3 timed passes.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/chat_template.h"
#include "data/tokenizer.h"

namespace {

using tokenfocus::data::Tokenizer;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<std::string> golden_texts(const std::string& path) {
  std::vector<std::string> texts;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) texts.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
  }
  return texts;
}

// EvalMuse-like prompts, and the overall / element questions the trainer builds from them.
std::vector<std::string> prompt_corpus(int count) {
  const std::vector<std::string> counts = {"a", "one", "two", "three", "four", "several", "many"};
  const std::vector<std::string> colors = {"red",    "blue",   "green",           "golden",
                                           "purple", "pastel", "black-and-white", "neon"};
  const std::vector<std::string> objects = {
      "cat",    "vintage car", "lighthouse",     "robot",     "teacup",
      "dragon", "bicycle",     "mountain cabin", "astronaut", "sunflower field"};
  const std::vector<std::string> relations = {"next to",     "on top of",      "behind",
                                              "in front of", "to the left of", "flying over"};
  const std::vector<std::string> styles = {"",
                                           ", oil painting",
                                           ", 4k photo, highly detailed",
                                           ", in the style of Studio Ghibli",
                                           ", watercolor",
                                           ", isometric 3D render",
                                           ", 日本の浮世絵風"};
  std::mt19937 rng(7);
  auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) {
    const std::string element = pick(colors) + " " + pick(objects);
    const std::string prompt = pick(counts) + " " + element + " " + pick(relations) + " " +
                               pick(counts) + " " + pick(colors) + " " + pick(objects) +
                               pick(styles);
    switch (i % 3) {
      case 0:
        out.push_back(prompt);
        break;
      case 1:
        out.push_back(tokenfocus::data::fill_question(
            "Does this image match the description \"{prompt}\"? Rate the match from 1 (not at "
            "all) to 5 (perfectly). Answer with one digit.",
            "prompt", prompt));
        break;
      default:
        out.push_back(tokenfocus::data::fill_question(
            "Does this image show \"{element}\"? Answer yes or no.", "element", element));
    }
  }
  return out;
}

// Encodes all texts split over `threads` threads; returns the token count.
int64_t encode_all(const Tokenizer& tokenizer, const std::vector<std::string>& texts, int threads) {
  std::vector<int64_t> counts(threads, 0);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (size_t i = t; i < texts.size(); i += threads)
        counts[t] += tokenizer.encode(texts[i]).size();
    });
  }
  for (auto& thread : pool) thread.join();
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  return total;
}

struct Measurement {
  int64_t tokens = 0;
  double first_seconds = 0;  // the warm-up pass (word cache filling up)
  double best_seconds = 0;
  bool ok = false;
};

Measurement measure_ours(const Tokenizer& tokenizer, const std::vector<std::string>& texts,
                         int threads, int passes) {
  Measurement m;
  const auto first = Clock::now();
  m.tokens = encode_all(tokenizer, texts, threads);  // warm-up (fills the word cache)
  m.first_seconds = seconds_since(first);
  m.best_seconds = 1e30;
  for (int p = 0; p < passes; ++p) {
    const auto start = Clock::now();
    encode_all(tokenizer, texts, threads);
    m.best_seconds = std::min(m.best_seconds, seconds_since(start));
  }
  m.ok = true;
  return m;
}

Measurement measure_rust(const std::string& tokenizer_path, const std::string& texts_path,
                         int threads, int passes) {
  const std::string command = "RAYON_NUM_THREADS=" + std::to_string(threads) +
                              " " TOKENFOCUS_REFERENCE_PYTHON " '" TOKENFOCUS_BENCH_TOKENIZER_DIR
                              "/rust_tokenizers_peer.py' '" +
                              tokenizer_path + "' '" + texts_path + "' " + std::to_string(passes);
  Measurement m;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return m;
  std::string output;
  char buffer[4096];
  while (fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
  if (pclose(pipe) != 0 || output.empty()) return m;
  const auto j = nlohmann::json::parse(output);
  m.tokens = j.at("tokens").get<int64_t>();
  const auto seconds = j.at("seconds").get<std::vector<double>>();
  m.best_seconds = *std::min_element(seconds.begin(), seconds.end());
  m.ok = true;
  return m;
}

void run_set(const char* name, const std::string& tokenizer_path,
             const std::vector<std::string>& texts, int passes) {
  const std::string texts_path = "/tmp/bench_tokenizer_" + std::string(name) + ".jsonl";
  {
    std::ofstream out(texts_path);
    for (const auto& text : texts) out << nlohmann::json{{"text", text}}.dump() << '\n';
  }
  size_t bytes = 0;
  for (const auto& text : texts) bytes += text.size();
  std::printf("\n%s: %zu texts, %.1f KiB\n", name, texts.size(), bytes / 1024.0);
  for (int threads : {1, 2}) {
    // A fresh tokenizer (empty word cache) so that the first pass shows the cold cost.
    const Tokenizer fresh = Tokenizer::from_file(tokenizer_path);
    const Measurement ours = measure_ours(fresh, texts, threads, passes);
    const Measurement rust = measure_rust(tokenizer_path, texts_path, threads, passes);
    const double ours_rate = ours.tokens / ours.best_seconds;
    std::printf("  %d thread%s  ours %10.0f tokens/s (%lld tokens, %.4f s; first pass %.4f s)",
                threads, threads == 1 ? " " : "s", ours_rate, static_cast<long long>(ours.tokens),
                ours.best_seconds, ours.first_seconds);
    if (rust.ok) {
      const double rust_rate = rust.tokens / rust.best_seconds;
      std::printf(" | rust tokenizers %10.0f tokens/s | ours/rust %.2fx%s\n", rust_rate,
                  ours_rate / rust_rate,
                  rust.tokens == ours.tokens ? "" : "  (TOKEN COUNTS DIFFER)");
    } else {
      std::printf(" | rust tokenizers failed to run (%s)\n", TOKENFOCUS_REFERENCE_PYTHON);
    }
  }
  std::remove(texts_path.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::string tokenizer_path = "../shared/golden/tokenizer/tokenizer.json";
  int prompts = 20000;
  int passes = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    if (key == "--tokenizer")
      tokenizer_path = argv[i + 1];
    else if (key == "--prompts")
      prompts = std::stoi(argv[i + 1]);
    else if (key == "--passes")
      passes = std::stoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 1;
    }
  }
  std::printf(
      "bench_tokenizer: %s, best of %d passes after one warm-up pass, %u hardware threads\n",
      tokenizer_path.c_str(), passes, std::thread::hardware_concurrency());
  const auto load_start = Clock::now();
  const Tokenizer tokenizer = Tokenizer::from_file(tokenizer_path);
  std::printf("load: %.3f s (vocab %lld)\n", seconds_since(load_start),
              static_cast<long long>(tokenizer.vocab_size()));
  const std::string golden_path =
      tokenizer_path.substr(0, tokenizer_path.rfind('/') + 1) + "tokenizer_cases.jsonl";
  // The golden texts are few: repeat them so that a pass lasts long enough to time.
  std::vector<std::string> golden;
  const auto cases = golden_texts(golden_path);
  for (int r = 0; r < 20; ++r) golden.insert(golden.end(), cases.begin(), cases.end());
  if (!golden.empty()) run_set("golden_x20", tokenizer_path, golden, passes);
  run_set("prompts", tokenizer_path, prompt_corpus(prompts), passes);
  return 0;
}
