// `tokenfocus predict CONFIG [--set ...] [--backbone NAME] [--fold K]`, one process per rank:
// rewrites each fold's predictions store from the fold model `train` exported
// (RUN/models/<backbone>/fold<k>) — after changing the test records, or to rebuild a lost store.
#include <CLI/CLI.hpp>

#include "common/config/run_config.h"
#include "common/log.h"
#include "launch/command_registry.h"
#include "trainer/fold_runner.h"
#include "trainer/rank_start.h"

namespace tokenfocus::launch {
namespace {

CommandRun setup_predict(CLI::App& command) {
  struct Options {
    std::string config, backbone;
    std::vector<std::string> overrides;
    int64_t fold = -1;
  };
  auto o = std::make_shared<Options>();
  command.add_option("config", o->config, "Run config (YAML) of the trained run")->required();
  command.add_option("--set", o->overrides, "Override a key: a.b.c=value (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  command.add_option("--backbone", o->backbone, "Predict only this backbone");
  command.add_option("--fold", o->fold, "Predict only this fold");
  command.footer(
      "Run one process per rank: mpirun -np N tokenfocus predict CONFIG. Reads "
      "RUN/models/<backbone>/fold<k> (written by train), writes "
      "RUN/predictions/<backbone>/fold<k>.h5.");
  return [o]() -> int {
    const auto run = config::load_run_config(o->config, o->overrides);
    auto comm = trainer::start_rank(run.config.distributed);
    trainer::TrainSelection selection;
    selection.backbone = o->backbone;
    if (o->fold >= 0) selection.fold = o->fold;
    selection.code_version = "tokenfocus " TOKENFOCUS_VERSION;
    return trainer::predict_run(run, selection, *comm);
  };
}

TOKENFOCUS_COMMAND("predict",
                   "Rewrite the predictions stores of a trained run from its exported fold models",
                   setup_predict);

}  // namespace
}  // namespace tokenfocus::launch
