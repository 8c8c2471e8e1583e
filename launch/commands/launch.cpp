// `tokenfocus launch CONFIG (--local [--ranks N] | --slurm [--submit])`: run every stage of a run.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "common/config/run_config.h"
#include "common/log.h"
#include "launch/command_registry.h"
#include "launch/lib/local_pipeline.h"
#include "launch/lib/process.h"
#include "launch/lib/run_notices.h"
#include "launch/lib/slurm_scripts.h"

namespace tokenfocus::launch {
namespace {

CommandRun setup_launch(CLI::App& command) {
  struct Options {
    std::string config;
    std::vector<std::string> overrides;
    bool local = false, slurm = false, submit = false;
    int ranks = 2;
  };
  auto o = std::make_shared<Options>();
  command.add_option("config", o->config, "Run config (YAML)")->required();
  command.add_option("--set", o->overrides, "Override a key: a.b.c=value (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  auto* local =
      command.add_flag("--local", o->local, "Run prepare, train (mpirun) and ensemble here");
  command.add_option("--ranks", o->ranks, "MPI ranks for --local")->capture_default_str();
  auto* slurm = command.add_flag("--slurm", o->slurm, "Write sbatch scripts into RUN/slurm");
  command.add_flag("--submit", o->submit,
                   "With --slurm: submit them (prepare -> train -> ensemble)");
  local->excludes(slurm);
  command.footer(
      "Exit codes: 0 done, 1 bad input, 2 internal error, 75 a stage checkpointed after a "
      "preemption signal (run the same command again to resume).");
  return [o]() -> int {
    if (!o->local && !o->slurm) throw_user_error("launch: choose --local or --slurm");
    const auto run = config::load_run_config(o->config, o->overrides);
    for (const std::string& notice : run_notices(run.config)) log::warn("launch: {}", notice);
    if (o->local) return run_local_pipeline(run, o->ranks, self_executable());
    const SlurmScripts scripts = write_slurm_scripts(run, self_executable());
    fmt::print("wrote {} ({} training task(s)), {}, {}, {}\n", scripts.train, scripts.train_tasks,
               scripts.prepare, scripts.ensemble, scripts.submit);
    if (o->submit)
      fmt::print("submitted jobs (prepare train ensemble): {}\n", submit_slurm_scripts(scripts));
    return 0;
  };
}

TOKENFOCUS_COMMAND("launch", "Run a whole run: locally under mpirun, or as chained Slurm jobs",
                   setup_launch);

}  // namespace
}  // namespace tokenfocus::launch
