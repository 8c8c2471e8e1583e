// `tokenfocus prepare CONFIG`: makes what a run needs before training and is a no-op when it is
// there already: the synthetic dataset (when `data.synthetic.train_samples` > 0 and the train
// records do not exist) and tiny models initialised at random (backbones with `init_config` whose
// model_dir has no config.json yet). Each step runs the command a user would run by hand.
#include <filesystem>

#include <CLI/CLI.hpp>

#include "common/config/run_config.h"
#include "common/error.h"
#include "common/log.h"
#include "launch/command_registry.h"
#include "launch/lib/process.h"

namespace tokenfocus::launch {
namespace {

namespace fs = std::filesystem;

void run_step(const std::vector<std::string>& argv) {
  const int code = run_process(argv);
  if (code != 0)
    throw_user_error("prepare: '{} {} {}' exited with code {}", argv[0], argv[1], argv[2], code);
}

void prepare_synthetic_data(const config::DataConfig& data, const std::string& exe) {
  const config::SyntheticDataConfig& synth = data.synthetic;
  if (synth.train_samples <= 0 || fs::exists(data.train_records)) return;
  const fs::path dir = fs::path(data.train_records).parent_path();
  if (fs::path(data.train_records).filename() != "train.json" ||
      (!data.test_records.empty() && fs::path(data.test_records) != dir / "test.json"))
    throw_user_error(
        "data.train_records: with data.synthetic the records must be DIR/train.json and "
        "DIR/test.json (got '{}' and '{}')",
        data.train_records, data.test_records);
  log::info("prepare: synthesising {} train + {} test samples into {}", synth.train_samples,
            synth.test_samples, dir.string());
  run_step({exe, "data", "synth", "--out", dir.string(), "--n", std::to_string(synth.train_samples),
            "--test", std::to_string(synth.test_samples), "--seed", std::to_string(synth.seed),
            "--size", std::to_string(synth.image_size), "--images-per-prompt",
            std::to_string(synth.images_per_prompt)});
}

void prepare_tiny_models(const std::vector<config::BackboneConfig>& backbones,
                         const std::string& exe) {
  for (size_t i = 0; i < backbones.size(); ++i) {
    const auto& b = backbones[i];
    if (b.init_config.empty() || fs::exists(fs::path(b.model_dir) / "config.json")) continue;
    if (!fs::exists(b.init_config))
      throw_user_error("backbones.{}.init_config: {} does not exist", i, b.init_config);
    log::info("prepare: initialising {} from {} (seed {})", b.model_dir, b.init_config,
              b.init_seed);
    run_step({exe, "model", "init", "--config", b.init_config, "--out", b.model_dir, "--seed",
              std::to_string(b.init_seed)});
  }
}

CommandRun setup_prepare(CLI::App& command) {
  struct Options {
    std::string config;
    std::vector<std::string> overrides;
  };
  auto o = std::make_shared<Options>();
  command.add_option("config", o->config, "Run config (YAML)")->required();
  command.add_option("--set", o->overrides, "Override a key: a.b.c=value (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  return [o] {
    const auto run = config::load_run_config(o->config, o->overrides);
    const std::string exe = self_executable();
    prepare_synthetic_data(run.config.data, exe);
    prepare_tiny_models(run.config.backbones, exe);
    return 0;
  };
}

TOKENFOCUS_COMMAND("prepare",
                   "Make the synthetic dataset and tiny models a run needs (no-op when present)",
                   setup_prepare);

}  // namespace
}  // namespace tokenfocus::launch
