// bench_ensemble [--models 10] [--samples 40000] [--draws D] [--threads T] [--skip-python]
// Bootstrap of every challenge metric (SRCC, KRCC, logistic PLCC, RMSE, acc, final) for M models
// over N samples and D draws, then nested stacking CV (ridge with inner-CV alpha, NNLS) on the
// models' scores and label distributions — ours, then scipy/scikit-learn on the very same data and
// bootstrap draws in the same run (bench_ensemble_reference.py). Prints both times and the ratio.
// The brief's full size is 10 × 40,000 × 1,000; scipy needs far more than 5 minutes for that on a
// small machine, so the default draws are scaled down for both sides equally (said in the output).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "ensemble/bootstrap.h"
#include "ensemble/metrics.h"
#include "ensemble/ridge.h"
#include "ensemble/stacker.h"

using namespace tokenfocus::ensemble;

namespace {

template <class T>
void write_binary(const std::string& path, const std::vector<T>& v) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(v.data()),
             static_cast<std::streamsize>(v.size() * sizeof(T)));
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  size_t models = 10, samples = 40000, labels = 5;
  int64_t draws = 20, inner_folds = 5;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  bool python = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return std::string(i + 1 < argc ? argv[++i] : "0"); };
    if (a == "--models")
      models = std::stoul(next());
    else if (a == "--samples")
      samples = std::stoul(next());
    else if (a == "--draws")
      draws = std::stoll(next());
    else if (a == "--threads")
      threads = static_cast<unsigned>(std::stoul(next()));
    else if (a == "--skip-python")
      python = false;
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  std::printf(
      "bench_ensemble: %zu models x %zu samples x %lld bootstrap draws (brief: 10 x 40000 x "
      "1000; draws scaled down equally for both sides), %u threads\n",
      models, samples, static_cast<long long>(draws), threads);

  // Synthetic evaluation set: MOS on a 1/3 grid (ties), models = noisy monotone views of it.
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> uniform(1, 5);
  std::normal_distribution<double> gauss(0, 1);
  std::uniform_int_distribution<int> element_count(1, 6);
  EvaluationSet truth;
  truth.element_offsets.push_back(0);
  for (size_t i = 0; i < samples; ++i) {
    truth.keys.push_back(std::to_string(i));
    truth.prompts.push_back("");
    truth.score.push_back(std::round(uniform(rng) * 3) / 3);
    const int k = element_count(rng);
    for (int e = 0; e < k; ++e) {
      truth.element.push_back(uniform(rng) > 2.6 ? 1.0 : 0.0);
      truth.element_keys.push_back("e");
      truth.element_category.push_back("c");
    }
    truth.element_offsets.push_back(truth.element.size());
  }
  std::vector<AlignedPrediction> predictions(models);
  std::vector<double> scores, q, correct, counts(samples);
  for (size_t i = 0; i < samples; ++i)
    counts[i] = static_cast<double>(truth.element_offsets[i + 1] - truth.element_offsets[i]);
  for (size_t m = 0; m < models; ++m) {
    const double noise = 0.4 + 0.08 * static_cast<double>(m);
    for (size_t i = 0; i < samples; ++i) {
      const double s = 1 + 4 / (1 + std::exp(-(truth.score[i] - 3) * 1.2)) + noise * gauss(rng);
      predictions[m].score.push_back(s);
      scores.push_back(s);
      double z = 0, row[16];
      for (size_t k = 0; k < labels; ++k) z += row[k] = std::exp(-std::pow(s - double(k + 1), 2));
      for (size_t k = 0; k < labels; ++k) q.push_back(row[k] / z);
      double right = 0;
      for (size_t e = truth.element_offsets[i]; e < truth.element_offsets[i + 1]; ++e) {
        const double p = std::clamp(truth.element[e] + noise * gauss(rng), 0.0, 1.0);
        predictions[m].element.push_back(p);
        right += (p >= 0.5) == (truth.element[e] >= 0.5);
      }
      correct.push_back(right);
    }
  }
  const auto folds = kfold_assignment(samples, 5, 3);

  // Ours: bootstrap.
  auto start = std::chrono::steady_clock::now();
  std::clock_t cpu = std::clock();
  BootstrapOptions options;
  options.samples = draws;
  options.seed = 11;
  options.threads = threads;
  const auto intervals = bootstrap_metrics(truth, predictions, options);
  const double ours_bootstrap = seconds_since(start);
  const double ours_bootstrap_cpu = static_cast<double>(std::clock() - cpu) / CLOCKS_PER_SEC;

  // Ours: nested stacking CV (ridge with inner-CV alpha, NNLS), outer folds on `threads` threads.
  FeatureMatrix x;
  x.rows = samples;
  x.cols = models * (1 + labels);
  for (size_t i = 0; i < samples; ++i)
    for (size_t m = 0; m < models; ++m) {
      x.values.push_back(scores[m * samples + i]);
      for (size_t k = 0; k < labels; ++k) x.values.push_back(q[(m * samples + i) * labels + k]);
    }
  start = std::chrono::steady_clock::now();
  cpu = std::clock();
  std::vector<std::vector<double>> nested(2, std::vector<double>(samples));
  {
    std::vector<std::thread> pool;
    std::atomic<int> next{0};
    auto worker = [&] {
      for (int task; (task = next.fetch_add(1)) < 10;) {
        const int fold = task / 2, which = task % 2;
        std::vector<size_t> train, held;
        for (size_t i = 0; i < samples; ++i) (folds[i] == fold ? held : train).push_back(i);
        std::vector<double> y;
        for (size_t i : train) y.push_back(truth.score[i]);
        auto stacker = make_stacker(which == 0 ? "ridge" : "nnls", StackerOptions{inner_folds, 0});
        stacker->fit(x.select_rows(train), y);
        const auto pred = stacker->predict(x.select_rows(held));
        for (size_t i = 0; i < held.size(); ++i) nested[which][held[i]] = pred[i];
      }
    };
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();
  }
  const double ours_stacking = seconds_since(start);
  const double ours_stacking_cpu = static_cast<double>(std::clock() - cpu) / CLOCKS_PER_SEC;
  std::printf("ours:  bootstrap %.2f s (%.2f ms per model-draw), stacking CV %.2f s\n",
              ours_bootstrap,
              1000 * ours_bootstrap / static_cast<double>(models * std::max<int64_t>(draws, 1)),
              ours_stacking);
  std::printf("       point final of model 0: %.6f, nested SRCC ridge %.6f nnls %.6f\n",
              intervals[0].final.point, spearman(truth.score, nested[0]),
              spearman(truth.score, nested[1]));
  if (!python) return 0;

  // The peer on identical data and identical bootstrap draws.
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("tokenfocus_bench_ensemble_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::vector<uint32_t> all_draws;
  for (int64_t d = 0; d < draws; ++d) {
    const auto idx = bootstrap_draw(samples, options.seed, d);
    all_draws.insert(all_draws.end(), idx.begin(), idx.end());
  }
  write_binary((dir / "mos.f64").string(), truth.score);
  write_binary((dir / "scores.f64").string(), scores);
  write_binary((dir / "q.f64").string(), q);
  write_binary((dir / "correct.f64").string(), correct);
  write_binary((dir / "counts.f64").string(), counts);
  write_binary((dir / "draws.u32").string(), all_draws);
  write_binary((dir / "folds.i32").string(), folds);
  const nlohmann::json meta = {
      {"samples", samples}, {"models", models},           {"draws", draws},
      {"labels", labels},   {"inner_folds", inner_folds}, {"dir", dir.string()}};
  std::ofstream(dir / "meta.json") << meta.dump();
  const std::string command = std::string(TOKENFOCUS_REFERENCE_PYTHON) + " " +
                              TOKENFOCUS_BENCH_SCRIPT + " " + (dir / "meta.json").string() + " > " +
                              (dir / "peer.json").string();
  if (std::system(command.c_str()) != 0) {
    std::fprintf(stderr, "peer failed: %s\n", command.c_str());
    return 1;
  }
  std::ifstream in(dir / "peer.json");
  const auto peer = nlohmann::json::parse(in);
  fs::remove_all(dir);
  const double peer_bootstrap = peer["bootstrap_seconds"], peer_stacking = peer["stacking_seconds"];
  // Same draws on both sides: the bootstrap interval ends must agree (metric parity at scale).
  double max_difference = 0;
  for (size_t m = 0; m < models; ++m) {
    max_difference = std::max(
        max_difference, std::fabs(intervals[m].final.low - peer["final_low"][m].get<double>()));
    max_difference = std::max(
        max_difference, std::fabs(intervals[m].final.high - peer["final_high"][m].get<double>()));
  }
  std::printf("scipy/sklearn: bootstrap %.2f s, stacking CV %.2f s (single-threaded Python)\n",
              peer_bootstrap, peer_stacking);
  std::printf("       nested SRCC ridge %.6f nnls %.6f\n",
              peer["nested_srcc"]["ridge"].get<double>(),
              peer["nested_srcc"]["nnls"].get<double>());
  std::printf("ratio (peer / ours), wall clock: bootstrap %.1fx, stacking CV %.1fx, total %.1fx\n",
              peer_bootstrap / ours_bootstrap, peer_stacking / ours_stacking,
              (peer_bootstrap + peer_stacking) / (ours_bootstrap + ours_stacking));
  const double peer_bootstrap_cpu = peer["bootstrap_cpu"], peer_stacking_cpu = peer["stacking_cpu"];
  std::printf(
      "ratio (peer / ours), CPU seconds (robust on a shared machine): bootstrap %.1fx "
      "(%.1f vs %.1f s), stacking CV %.1fx (%.1f vs %.1f s)\n",
      peer_bootstrap_cpu / ours_bootstrap_cpu, peer_bootstrap_cpu, ours_bootstrap_cpu,
      peer_stacking_cpu / ours_stacking_cpu, peer_stacking_cpu, ours_stacking_cpu);
  std::printf("parity: largest difference of the 95%% interval ends of final: %.2e\n",
              max_difference);
  return 0;
}
