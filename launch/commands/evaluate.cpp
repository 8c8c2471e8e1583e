// `tokenfocus evaluate --pred output.json --gt records.json [--json]`: scores any submission file
// with the official NTIRE 2025 Track 1 formula (ensemble/evaluation_set.h).
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "ensemble/evaluation_set.h"
#include "launch/command_registry.h"

namespace tokenfocus::launch {
namespace {

CommandRun setup_evaluate(CLI::App& command) {
  struct Options {
    std::string pred, gt, direction = "official";
    bool json = false;
  };
  auto options = std::make_shared<Options>();
  command.add_option("--pred", options->pred, "Submission: output.json layout (floats)")
      ->required()
      ->check(CLI::ExistingFile);
  command
      .add_option("--gt", options->gt,
                  "Ground truth: training records (annotator lists) or the challenge's eval.json "
                  "(floats)")
      ->required()
      ->check(CLI::ExistingFile);
  command.add_flag("--json", options->json,
                   "Print one JSON object {srcc, plcc, krcc, rmse, acc, final}");
  command
      .add_option("--plcc-direction", options->direction,
                  "official: fit the logistic ground truth -> prediction as evaluate.py does; "
                  "conventional: prediction -> ground truth")
      ->check(CLI::IsMember({"official", "conventional"}));
  command.footer(
      "Records are matched by img_path and element keys are taken from the ground truth, as in "
      "the official script. final = SRCC/4 + PLCC/4 + acc/2.");
  return [options] {
    const auto m = ensemble::evaluate_files(options->pred, options->gt,
                                            ensemble::parse_plcc_direction(options->direction));
    if (options->json) {
      auto number = [](double v) {
        return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json();
      };
      const nlohmann::ordered_json out = {{"srcc", number(m.srcc)}, {"plcc", number(m.plcc)},
                                          {"krcc", number(m.krcc)}, {"rmse", number(m.rmse)},
                                          {"acc", number(m.acc)},   {"final", number(m.final)}};
      std::printf("%s\n", out.dump().c_str());
    } else {
      std::printf("SRCC   %.6f\nPLCC   %.6f\nKRCC   %.6f\nRMSE   %.6f\nACC    %.6f\nFinal  %.6f\n",
                  m.srcc, m.plcc, m.krcc, m.rmse, m.acc, m.final);
      if (!m.logistic_converged) {
        std::fprintf(stderr,
                     "warning: the logistic fit did not converge; PLCC uses the best parameters "
                     "found\n");
      }
    }
    return 0;
  };
}

TOKENFOCUS_COMMAND("evaluate", "Score a submission with the official NTIRE 2025 Track 1 metrics",
                   setup_evaluate);

}  // namespace
}  // namespace tokenfocus::launch
