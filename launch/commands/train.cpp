// `tokenfocus train CONFIG [--set ...] [--backbone NAME] [--fold K] [--resume]`, one process per
// rank (mpirun / srun): fine-tunes each (backbone, fold) and writes its predictions store.
#include <CLI/CLI.hpp>

#include "common/config/run_config.h"
#include "common/error.h"
#include "common/log.h"
#include "common/process_memory.h"
#include "launch/command_registry.h"
#include "trainer/fold_runner.h"
#include "trainer/rank_start.h"

namespace tokenfocus::launch {
namespace {

CommandRun setup_train(CLI::App& command) {
  struct Options {
    std::string config, backbone;
    std::vector<std::string> overrides;
    int64_t fold = -1;
    bool resume = false;
  };
  auto o = std::make_shared<Options>();
  command.add_option("config", o->config, "Run config (YAML)")->required();
  command.add_option("--set", o->overrides, "Override a key: a.b.c=value (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  command.add_option("--backbone", o->backbone, "Train only this backbone (Slurm array tasks)");
  command.add_option("--fold", o->fold, "Train only this fold");
  command.add_flag("--resume", o->resume,
                   "Continue from the newest complete checkpoint; skip folds already predicted");
  command.footer(
      "Run one process per rank: mpirun -np N tokenfocus train CONFIG. Exits 75 after "
      "checkpointing on SIGTERM/SIGUSR1 (run again with --resume).");
  return [o]() -> int {
    const auto run = config::load_run_config(o->config, o->overrides);
    auto comm = trainer::start_rank(run.config.distributed);
    log::info("train: {} rank(s), backend {}, config {}", comm->world_size(), comm->backend(),
              run.hash.substr(0, 12));
    trainer::TrainSelection selection;
    selection.backbone = o->backbone;
    if (o->fold >= 0) selection.fold = o->fold;
    selection.resume = o->resume;
    selection.code_version = "tokenfocus " TOKENFOCUS_VERSION;
    // Host memory for checking `tokenfocus plan` (docs/memory.md): resident before any data or
    // model, and the process's peak (VmHWM) once every fold is done.
    const int64_t start_rss = resident_bytes();
    const int code = trainer::train_run(run, selection, *comm);
    log::info("train: rank {} peak resident memory {} KiB (VmHWM), {} KiB before data and models",
              comm->rank(), peak_resident_bytes() / 1024, start_rss / 1024);
    return code;
  };
}

TOKENFOCUS_COMMAND("train", "Fine-tune every (backbone, fold) of a run and write its predictions",
                   setup_train);

}  // namespace
}  // namespace tokenfocus::launch
