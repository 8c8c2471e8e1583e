// Images per second for decode + Qwen2-VL preprocessing (smart_resize + Pillow-exact bicubic +
// rescale/normalise + patchify) over a fixed, seeded set of 1024x1024 JPEG and PNG files, ours vs
// Pillow + numpy (the Hugging Face processor's own building blocks) on the same files in the same
// run, with 1 and 2 threads (files shared out by an atomic counter; Python uses a thread pool,
// Pillow and numpy release the GIL in decode, resize and array maths). Best of 3 rounds.
//
//   bench_image_pipeline [--files N] [--size S] [--threads 1,2]
//
// Then a per-stage breakdown on one thread (decode, resize, normalise + patchify), ratio = Pillow
// time / our time.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "data/image.h"
#include "data/image_processor.h"
#include "data/resize.h"

namespace {

using tokenfocus::data::ImageProcessorSettings;

// Writes the seeded file set (half JPEG q90, half PNG) and, given a thread count, times Pillow's
// open + convert("RGB") + resize(BICUBIC) + numpy rescale/normalise + HF's patchify transpose.
constexpr const char* kPillowPeer = R"PY(
import sys, os, time
import numpy as np
from PIL import Image
from concurrent.futures import ThreadPoolExecutor
mode, folder = sys.argv[1], sys.argv[2]
threads, out_h, out_w = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
files = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.startswith('img'))
mean = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
std = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
def normalise_patchify(im):
    a = (np.asarray(im).astype(np.float64) * (1 / 255)).astype(np.float32)
    a = (a - mean) / std
    a = np.stack([a.transpose(2, 0, 1)] * 2)  # temporal pair, then HF's patch layout
    gh, gw = out_h // 14, out_w // 14
    p = a.reshape(1, 2, 3, gh // 2, 2, 14, gw // 2, 2, 14).transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return np.ascontiguousarray(p.reshape(gh * gw, 1176)).shape[0]
def one(path):
    return normalise_patchify(Image.open(path).convert('RGB').resize((out_w, out_h), Image.BICUBIC))
if threads == 0:  # per-stage seconds over all files, one thread: decode, resize, normalise+patchify
    best = [1e30] * 3
    for _ in range(3):
        t = [0.0] * 3
        for path in files:
            t0 = time.perf_counter(); im = Image.open(path).convert('RGB')
            t1 = time.perf_counter(); im = im.resize((out_w, out_h), Image.BICUBIC)
            t2 = time.perf_counter(); normalise_patchify(im)
            t3 = time.perf_counter()
            t = [t[0] + t1 - t0, t[1] + t2 - t1, t[2] + t3 - t2]
        best = [min(b, x) for b, x in zip(best, t)]
    print(' '.join(f'{b:.6f}' for b in best))
    sys.exit(0)
best = 1e30
for _ in range(3):
    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, files))
    best = min(best, time.perf_counter() - t0)
print(f'{best:.6f}')
)PY";

std::string run(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return "";
  std::string out;
  char buffer[256];
  while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) out += buffer;
  if (::pclose(pipe) != 0) {
    std::fprintf(stderr, "command failed: %s\n", command.c_str());
    std::exit(1);
  }
  return out;
}

double time_ours(const std::vector<std::string>& files, int threads,
                 const tokenfocus::data::ImageProcessor& processor) {
  double best = 1e30;
  for (int round = 0; round < 3; ++round) {
    std::atomic<size_t> next{0};
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        for (size_t i = next++; i < files.size(); i = next++) {
          const auto out = processor.process(tokenfocus::data::decode_image_file(files[i]));
          if (out.pixel_values.empty()) std::abort();
        }
      });
    }
    for (auto& thread : pool) thread.join();
    best = std::min(
        best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

// Seconds spent per stage over all files on one thread (best of 3): decode, resize, the rest.
std::array<double, 3> time_ours_stages(const std::vector<std::string>& files, int64_t out_w,
                                       int64_t out_h,
                                       const tokenfocus::data::ImageProcessor& processor) {
  using clock = std::chrono::steady_clock;
  auto seconds = [](clock::time_point a, clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  };
  std::array<double, 3> best{1e30, 1e30, 1e30};
  for (int round = 0; round < 3; ++round) {
    std::array<double, 3> t{0, 0, 0};
    for (const std::string& file : files) {
      const auto t0 = clock::now();
      const auto image = tokenfocus::data::decode_image_file(file);
      const auto t1 = clock::now();
      const auto resized = tokenfocus::data::resize_bicubic(image, out_w, out_h);
      const auto t2 = clock::now();
      // The processor on an image already at its target size only normalises and patchifies.
      const auto out = processor.process(resized);
      const auto t3 = clock::now();
      if (out.pixel_values.empty()) std::abort();
      t[0] += seconds(t0, t1);
      t[1] += seconds(t1, t2);
      t[2] += seconds(t2, t3);
    }
    for (int k = 0; k < 3; ++k) best[k] = std::min(best[k], t[k]);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int count = 16, size = 1024;
  std::vector<int> thread_counts = {1, 2};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--files")
      count = std::atoi(argv[i + 1]);
    else if (flag == "--size")
      size = std::atoi(argv[i + 1]);
    else if (flag == "--threads") {
      thread_counts.clear();
      std::stringstream list(argv[i + 1]);
      for (std::string item; std::getline(list, item, ',');)
        thread_counts.push_back(std::stoi(item));
    }
  }
  namespace fs = std::filesystem;
  const fs::path folder =
      fs::temp_directory_path() / ("tokenfocus-bench-image-" + std::to_string(::getpid()));
  fs::create_directories(folder);
  const fs::path script = folder / "peer.py";
  std::ofstream(script) << kPillowPeer;
  const std::string python = std::string(TOKENFOCUS_REFERENCE_PYTHON) + " " + script.string() + " ";
  run(std::string(TOKENFOCUS_REFERENCE_PYTHON) + " " + TOKENFOCUS_SOURCE_DIR +
      "/bench/image/make_images.py " + folder.string() + " " + std::to_string(count) + " " +
      std::to_string(size) + " mixed");
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (entry.path().filename().string().rfind("img", 0) == 0)
      files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());

  ImageProcessorSettings settings;  // Qwen2-VL class defaults (max_pixels 1003520)
  settings.model_type = "qwen2_vl";
  const auto processor = tokenfocus::data::make_image_processor(settings);
  const auto sample = processor->process(tokenfocus::data::decode_image_file(files.front()));
  const int64_t out_h = sample.grid_thw[1] * 14, out_w = sample.grid_thw[2] * 14;

  std::printf(
      "image pipeline: %zu files (%dx%d, half JPEG q90, half PNG) -> decode + Qwen2-VL "
      "preprocess to %lldx%lld, %u hardware threads\n",
      files.size(), size, size, (long long)out_w, (long long)out_h,
      std::thread::hardware_concurrency());
  std::printf("%8s %14s %14s %8s\n", "threads", "ours img/s", "Pillow img/s", "ratio");
  for (int threads : thread_counts) {
    const double ours = time_ours(files, threads, *processor);
    const double pillow =
        std::stod(run(python + "time " + folder.string() + " " + std::to_string(threads) + " " +
                      std::to_string(out_h) + " " + std::to_string(out_w)));
    const double ours_rate = files.size() / ours, pillow_rate = files.size() / pillow;
    std::printf("%8d %14.2f %14.2f %7.2fx\n", threads, ours_rate, pillow_rate,
                ours_rate / pillow_rate);
  }
  const std::array<double, 3> ours = time_ours_stages(files, out_w, out_h, *processor);
  std::stringstream peer(run(python + "time " + folder.string() + " 0 " + std::to_string(out_h) +
                             " " + std::to_string(out_w)));
  std::array<double, 3> pillow{};
  peer >> pillow[0] >> pillow[1] >> pillow[2];
  const char* stages[3] = {"decode", "resize", "normalise+patchify"};
  std::printf("\nper stage, 1 thread, ms per image:\n%20s %10s %10s %8s\n", "stage", "ours",
              "Pillow", "ratio");
  for (int k = 0; k < 3; ++k) {
    std::printf("%20s %10.2f %10.2f %7.2fx\n", stages[k], 1e3 * ours[k] / files.size(),
                1e3 * pillow[k] / files.size(), pillow[k] / ours[k]);
  }
  fs::remove_all(folder);
  return 0;
}
