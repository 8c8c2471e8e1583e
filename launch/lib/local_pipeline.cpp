#include "launch/lib/local_pipeline.h"

#include <chrono>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/error.h"
#include "common/log.h"
#include "common/atomic_file.h"
#include "launch/lib/process.h"

namespace tokenfocus::launch {

std::string write_resolved_config(const config::ResolvedRunConfig& run) {
  const std::string path = run.config.output.run_dir + "/config.yaml";
  write_file_atomically(path, run.canonical_yaml);
  return path;
}

namespace {

// Adds the whole run's wall time to RUN/summary.json (written by the ensemble stage).
void record_wall_time(const std::string& run_dir, double seconds) {
  const std::string path = run_dir + "/summary.json";
  std::ifstream in(path);
  if (!in) return;
  nlohmann::ordered_json summary;
  try {
    summary = nlohmann::ordered_json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw_user_error("{}: invalid JSON: {}", path, e.what());
  }
  summary["wall_time_seconds"] = seconds;
  write_file_atomically(path, summary.dump(2) + "\n");
  log::info("run finished in {:.1f} s (recorded in {})", seconds, path);
}

}  // namespace

int run_local_pipeline(const config::ResolvedRunConfig& run, int ranks,
                       const std::string& executable) {
  if (ranks < 1) throw_user_error("--ranks must be at least 1 (got {})", ranks);
  const std::string config_path = write_resolved_config(run);
  std::vector<std::string> train = local_mpirun_prefix(ranks);
  for (const std::string& a :
       {executable, std::string("train"), config_path, std::string("--resume")})
    train.push_back(a);

  const std::vector<std::pair<std::string, std::vector<std::string>>> stages = {
      {"prepare", {executable, "prepare", config_path}},
      {"train", train},
      {"ensemble", {executable, "ensemble", config_path}},
  };
  const auto run_start = std::chrono::steady_clock::now();
  for (const auto& [name, argv] : stages) {
    log::info("stage {}: {}", name, fmt::join(argv, " "));
    const auto start = std::chrono::steady_clock::now();
    const int code = run_process(argv);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (code != 0) {
      log::error("stage {} exited with code {} after {:.1f} s", name, code, seconds);
      return code;
    }
    log::info("stage {} finished in {:.1f} s", name, seconds);
  }
  record_wall_time(
      run.config.output.run_dir,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count());
  return 0;
}

}  // namespace tokenfocus::launch
