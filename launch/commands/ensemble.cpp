// `tokenfocus ensemble CONFIG [--run RUN_DIR]`: every predictions store of a run -> leaderboard,
// submission, summary.json and report (ensemble/run_outputs.h).
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/config/run_config.h"
#include "ensemble/run_outputs.h"
#include "launch/command_registry.h"

namespace tokenfocus::launch {
namespace {

CommandRun setup_ensemble(CLI::App& command) {
  struct Options {
    std::string config, run_dir;
    std::vector<std::string> overrides;
  };
  auto options = std::make_shared<Options>();
  command.add_option("config", options->config, "Run config (YAML)")->required();
  command.add_option("--run", options->run_dir,
                     "Run folder holding predictions/ (default: output.run_dir of the config)");
  command.add_option("--set", options->overrides, "Override a key: a.b.c=value (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  command.footer(
      "Writes RUN/submission/{output.json,readme.txt}, RUN/summary.json and RUN/report/ "
      "(report.md, SVG charts, re-checkable evaluation files). See docs/ensemble.md.");
  return [options] {
    const auto resolved = config::load_run_config(options->config, options->overrides);
    const std::string run_dir =
        options->run_dir.empty() ? resolved.config.output.run_dir : options->run_dir;
    ensemble::run_ensemble_stage(resolved, run_dir);
    return 0;
  };
}

TOKENFOCUS_COMMAND("ensemble",
                   "Bag, stack and blend the run's predictions; write the NTIRE submission and a "
                   "report",
                   setup_ensemble);

}  // namespace
}  // namespace tokenfocus::launch
