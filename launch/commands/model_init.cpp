// `tokenfocus model init --config tiny.json --out DIR --seed S`: a tiny model folder with random
// weights (Hugging Face's initialisation), readable by `load_backbone` and by transformers.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "common/log.h"
#include "launch/command_registry.h"
#include "models/init.h"
#include "models/internvl_config.h"
#include "models/internvl_init.h"

namespace tokenfocus::launch {
namespace {

CommandRun setup_model_init(CLI::App& command) {
  struct Options {
    std::string config, out, preprocessor;
    uint64_t seed = 0;
  };
  auto options = std::make_shared<Options>();
  command
      .add_option("--config", options->config,
                  "Hugging Face config.json of the model (qwen2_vl, qwen2_5_vl, internvl_chat)")
      ->required();
  command.add_option("--out", options->out, "Model folder to write")->required();
  command.add_option("--seed", options->seed, "Seed of the random weights")->capture_default_str();
  command.add_option(
      "--preprocessor", options->preprocessor,
      "preprocessor_config.json to take min/max_pixels from (default: CONFIG's "
      "sibling <stem>.preprocessor_config.json if present, else 56x56..112x112 pixels)");
  command.footer(
      "Writes config.json, model.safetensors and (Qwen family) preprocessor_config.json into the "
      "folder. An InternVL folder takes its tile settings from config.json.");
  return [options] {
    namespace fs = std::filesystem;
    if (models::is_internvl_config(options->config)) {
      models::init_internvl_model_folder(options->config, options->out, options->seed);
      log::info("model init: wrote {} (InternVL, seed {})", options->out, options->seed);
      return 0;
    }
    std::string preprocessor = options->preprocessor;
    if (preprocessor.empty()) {
      const fs::path config(options->config);
      const fs::path sibling =
          config.parent_path() / (config.stem().string() + ".preprocessor_config.json");
      if (fs::exists(sibling)) preprocessor = sibling.string();
    }
    const models::PreprocessorSettings settings =
        preprocessor.empty() ? models::PreprocessorSettings{}
                             : models::read_preprocessor_settings(preprocessor);
    models::init_model_folder(options->config, options->out, options->seed, settings);
    log::info("model init: wrote {} (seed {})", options->out, options->seed);
    return 0;
  };
}

TOKENFOCUS_COMMAND("model", "Model folders: initialise tiny models", nullptr);
TOKENFOCUS_COMMAND("model init", "Initialise a tiny model folder at random from a config.json",
                   setup_model_init);

}  // namespace
}  // namespace tokenfocus::launch
