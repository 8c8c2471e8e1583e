// `tokenfocus sweep CONFIG [--out DIR] [--local | --slurm [--submit]]` expands the config's sweep
// into trial folders (config.yaml + trial.json each) and runs them; `tokenfocus sweep --collect
// DIR` prints every trial's best score, best first, and writes DIR/results.csv.
#include <filesystem>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/config/run_config.h"
#include "common/log.h"
#include "launch/command_registry.h"
#include "launch/lib/local_pipeline.h"
#include "launch/lib/process.h"
#include "launch/lib/run_notices.h"
#include "launch/lib/sweep.h"
#include "launch/lib/sweep_collect.h"

namespace tokenfocus::launch {
namespace {

namespace fs = std::filesystem;

std::string sweep_array_script(const config::RunConfig& base, const std::string& dir,
                               const std::vector<Trial>& trials, const std::string& exe) {
  std::ostringstream s;
  s << "#!/bin/bash\n#SBATCH --job-name=" << base.name << "-sweep\n";
  s << "#SBATCH --array=0-" << trials.size() - 1 << "\n";
  s << "#SBATCH --nodes=" << base.slurm.nodes
    << "\n#SBATCH --ntasks-per-node=" << base.slurm.tasks_per_node
    << "\n#SBATCH --cpus-per-task=" << base.slurm.cpus_per_task
    << "\n#SBATCH --time=" << base.slurm.time << "\n";
  if (base.slurm.gpus_per_node > 0)
    s << "#SBATCH --gpus-per-node=" << base.slurm.gpus_per_node << "\n";
  if (!base.slurm.partition.empty()) s << "#SBATCH --partition=" << base.slurm.partition << "\n";
  if (!base.slurm.account.empty()) s << "#SBATCH --account=" << base.slurm.account << "\n";
  s << "#SBATCH --output=" << dir << "/logs/trial-%A_%a.out\n\nset -euo pipefail\nTRIALS=(";
  for (const Trial& t : trials) s << " " << t.name;
  s << " )\ntrial=" << dir << "/${TRIALS[$SLURM_ARRAY_TASK_ID]}\n";
  s << "# A trial that already has its summary.json is finished: re-running the sweep skips it.\n";
  s << "[ -f \"$trial/summary.json\" ] && exit 0\n";
  s << "exec '" << exe
    << "' launch \"$trial/config.yaml\" --local --ranks \"${SLURM_NTASKS:-1}\"\n";
  return s.str();
}

int collect(const std::string& dir) {
  const auto results = collect_sweep(dir);
  fmt::print("{:<18} {:>8} {:>8} {:>8} {:>8}  {:<24} {}\n", "trial", "final", "srcc", "plcc", "acc",
             "best", "overrides");
  auto cell = [](const std::optional<double>& v) {
    return v ? fmt::format("{:8.4f}", *v) : fmt::format("{:>8}", "-");
  };
  for (const auto& r : results) {
    std::string overrides;
    for (const auto& o : r.overrides) overrides += (overrides.empty() ? "" : " ") + o;
    fmt::print("{:<18} {} {} {} {}  {:<24} {}\n", r.trial, cell(r.final_score), cell(r.srcc),
               cell(r.plcc), cell(r.acc), r.best_method.empty() ? "(not finished)" : r.best_method,
               overrides);
  }
  write_file_atomically(dir + "/results.csv", sweep_csv(results));
  write_file_atomically(dir + "/results.md", sweep_markdown(results));
  log::info("wrote {}/results.csv and results.md ({} trials)", dir, results.size());
  return 0;
}

CommandRun setup_sweep(CLI::App& command) {
  struct Options {
    std::string config, out, collect_dir;
    std::vector<std::string> overrides;
    bool local = false, slurm = false, submit = false;
    int ranks = 2;
  };
  auto o = std::make_shared<Options>();
  command.add_option("config", o->config, "Run config with a sweep: section");
  command.add_option("--set", o->overrides, "Override a base key: a.b.c=value (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  command.add_option("--out", o->out, "Sweep folder (default: <output.run_dir>-sweep)");
  auto* local =
      command.add_flag("--local", o->local, "Run unfinished trials here, one after another");
  command.add_option("--ranks", o->ranks, "MPI ranks per trial with --local")
      ->capture_default_str();
  auto* slurm = command.add_flag("--slurm", o->slurm, "Write a Slurm job array over the trials");
  command.add_flag("--submit", o->submit, "With --slurm: submit the array");
  auto* collect_option = command.add_option(
      "--collect", o->collect_dir, "Gather the trials' scores of a sweep folder, best first");
  local->excludes(slurm);
  collect_option->excludes(local)->excludes(slurm);
  return [o]() -> int {
    if (!o->collect_dir.empty()) return collect(o->collect_dir);
    if (o->config.empty()) throw_user_error("sweep: give a CONFIG to expand, or --collect DIR");
    const auto base = config::load_run_config(o->config, o->overrides);
    const std::string dir = o->out.empty() ? base.config.output.run_dir + "-sweep" : o->out;
    const auto trials = expand_sweep(o->config, o->overrides, dir);
    std::map<std::string, std::vector<std::string>> notices;  // notice -> trials it applies to
    for (const Trial& t : trials) {
      const auto resolved =
          config::load_run_config(o->config, trial_overrides(t, o->overrides, dir));
      for (const std::string& notice : run_notices(resolved.config))
        notices[notice].push_back(t.name);
      write_resolved_config(resolved);
      nlohmann::json info{
          {"name", t.name}, {"overrides", t.overrides}, {"config_hash", t.config_hash}};
      write_file_atomically(dir + "/" + t.name + "/trial.json", info.dump(2) + "\n");
    }
    fmt::print("{} trial(s) in {}\n", trials.size(), dir);
    for (const auto& [notice, names] : notices)
      log::warn("sweep: {} trial(s) of {} ({}{}): {}", names.size(), trials.size(), names.front(),
                names.size() > 1 ? ", ..." : "", notice);
    if (o->slurm) {
      fs::create_directories(dir + "/logs");
      const std::string script = dir + "/sweep.sbatch";
      write_file_atomically(script, sweep_array_script(base.config, fs::absolute(dir).string(),
                                                       trials, self_executable()));
      fmt::print("wrote {}\n", script);
      if (o->submit)
        fmt::print("submitted job array {}", capture_process({"sbatch", "--parsable", script}));
    }
    if (!o->local) return 0;
    for (const Trial& t : trials) {
      if (trial_finished(dir + "/" + t.name)) {
        log::info("trial {} already finished: skipped", t.name);
        continue;
      }
      log::info("trial {}: {}", t.name, fmt::format("{}", fmt::join(t.overrides, " ")));
      const auto resolved =
          config::load_run_config(o->config, trial_overrides(t, o->overrides, dir));
      const int code = run_local_pipeline(resolved, o->ranks, self_executable());
      if (code != 0) return code;
    }
    return collect(dir);
  };
}

TOKENFOCUS_COMMAND("sweep",
                   "Expand a config's sweep into trials; run them locally or on Slurm; "
                   "collect their scores",
                   setup_sweep);

}  // namespace
}  // namespace tokenfocus::launch
