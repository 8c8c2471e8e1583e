// `tokenfocus paircomp --scores FILE [--json]`: PairComp s_a and s_g per category and averaged
// (ensemble/paircomp.h).
#include <cstdio>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "ensemble/paircomp.h"
#include "launch/command_registry.h"

namespace tokenfocus::launch {
namespace {

CommandRun setup_paircomp(CLI::App& command) {
  struct Options {
    std::string scores;
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  command
      .add_option("--scores", options->scores,
                  "JSON lines {category, pair_id, prompt_index, image_index, score}")
      ->required()
      ->check(CLI::ExistingFile);
  command.add_flag("--json", options->json, "Print one JSON object instead of a table");
  command.footer(
      "Each pair needs the 4 scores of 2 prompts x 2 images. s_a: mean over pairs of their "
      "arithmetic mean; s_g: of their geometric mean; 'average' weighs categories equally.");
  return [options] {
    const auto r =
        ensemble::paircomp(ensemble::read_paircomp_scores(options->scores), options->scores);
    if (options->json) {
      nlohmann::ordered_json categories = nlohmann::ordered_json::object();
      for (const auto& [name, c] : r.categories) {
        categories[name] = {{"pairs", c.pairs}, {"s_a", c.s_a}, {"s_g", c.s_g}};
      }
      const nlohmann::ordered_json out = {
          {"categories", categories}, {"s_a", r.s_a}, {"s_g", r.s_g}};
      std::printf("%s\n", out.dump().c_str());
      return 0;
    }
    std::printf("%-20s %6s %8s %8s\n", "category", "pairs", "s_a", "s_g");
    size_t pairs = 0;
    for (const auto& [name, c] : r.categories) {
      std::printf("%-20s %6zu %8.4f %8.4f\n", name.c_str(), c.pairs, c.s_a, c.s_g);
      pairs += c.pairs;
    }
    std::printf("%-20s %6zu %8.4f %8.4f\n", "average", pairs, r.s_a, r.s_g);
    return 0;
  };
}

TOKENFOCUS_COMMAND("paircomp", "PairComp s_a / s_g of a T2I model from scored prompt pairs",
                   setup_paircomp);

}  // namespace
}  // namespace tokenfocus::launch
