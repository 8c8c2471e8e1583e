#include "launch/lib/local_pipeline.h"

#include <chrono>
#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/error.h"
#include "common/log.h"
#include "launch/lib/atomic_write.h"
#include "launch/lib/process.h"

namespace tokenfocus::launch {

std::string write_resolved_config(const config::ResolvedRunConfig& run) {
  const std::string path = run.config.output.run_dir + "/config.yaml";
  write_file_atomically(path, run.canonical_yaml);
  return path;
}

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
  return 0;
}

}  // namespace tokenfocus::launch
