// `tokenfocus data synth --out DIR --n N [--test N] --seed S`: the demo's synthetic dataset
// (data/synthetic.h): EvalMuse-format train/test JSON, the test ground truth, PNGs, tokenizer.json.
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "data/synthetic.h"
#include "launch/command_registry.h"

namespace tokenfocus::launch {
namespace {

CommandRun setup_data_synth(CLI::App& command) {
  struct Options {
    std::string out;
    data::SyntheticOptions synth;
  };
  auto options = std::make_shared<Options>();
  command.add_option("--out", options->out, "Output folder (created if needed)")->required();
  command.add_option("--n", options->synth.train_samples, "Training images")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{100000000}));
  command
      .add_option("--test", options->synth.test_samples,
                  "Test images (scored only in the ground truth)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{100000000}));
  command.add_option("--seed", options->synth.seed, "Random seed: same seed, same dataset")
      ->capture_default_str();
  command.add_option("--size", options->synth.image_size, "Image side in pixels")
      ->capture_default_str()
      ->check(CLI::Range(28, 1024));
  command
      .add_option("--images-per-prompt", options->synth.images_per_prompt,
                  "Images rendered per prompt")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{100000000}));
  command.add_option("--vocab", options->synth.vocab_size, "Vocabulary size of tokenizer.json")
      ->capture_default_str();
  command.footer(
      "Writes OUT/train.json, OUT/test.json, OUT/test_ground_truth.json, "
      "OUT/images/{train,test}/*.png and "
      "OUT/tokenizer.json. Use OUT as data.image_root.");
  return [options] {
    data::write_synthetic_dataset(options->out, options->synth);
    return 0;
  };
}

TOKENFOCUS_COMMAND("data", "Datasets: synthesise, inspect", nullptr);
TOKENFOCUS_COMMAND("data synth",
                   "Render the synthetic shapes dataset (EvalMuse format) for the demo",
                   setup_data_synth);

}  // namespace
}  // namespace tokenfocus::launch
