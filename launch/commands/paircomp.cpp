// `tokenfocus paircomp`: PairComp s_a and s_g per category and averaged (ensemble/paircomp.h),
// either from scores already computed (--scores) or end to end: a trained scorer (or a bag) scores
// FocusDiff's layout, PairComp.json + images X_Y_Z.png, and writes FocusDiff's score.json.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/log.h"
#include "ensemble/paircomp.h"
#include "launch/command_registry.h"
#include "scoring/scorer_bag.h"

namespace tokenfocus::launch {
namespace {

namespace fs = std::filesystem;

struct Options {
  std::string scores;
  std::vector<std::string> models;
  std::string pairs, images, scores_out;
  std::string device = "auto";
  std::string scale = "unit";
  int64_t batch_size = 8;
  bool json = false;
};

// Each image's score for its own caption, as PairCompScore rows (pair_id = the entry's index).
// scale "unit": (ŝ - lowest label value) / (highest - lowest), in [0, 1] like FocusDiff's P(yes)
// judge, so the geometric mean punishes a failed image; "labels": ŝ itself.
std::vector<ensemble::PairCompScore> score_pairs(const Options& o) {
  const std::vector<ensemble::PairCompPrompts> prompts = ensemble::read_paircomp_prompts(o.pairs);
  std::vector<data::Record> records;
  std::vector<std::string> missing;
  for (size_t i = 0; i < prompts.size(); ++i)
    for (int y = 0; y < 2; ++y)
      for (int z = 0; z < 2; ++z) {
        data::Record r;
        r.img_path = fmt::format("{}_{}_{}.png", i, y, z);
        r.prompt = y == 0 ? prompts[i].caption1 : prompts[i].caption2;
        r.prompt_id = fmt::format("{}_{}", i, y);
        if (!fs::exists(fs::path(o.images) / r.img_path)) missing.push_back(r.img_path);
        records.push_back(std::move(r));
      }
  if (!missing.empty()) {
    std::string list;
    for (size_t k = 0; k < std::min<size_t>(missing.size(), 10); ++k)
      list += (k ? ", " : "") + missing[k];
    throw_user_error("{}: {} of {} images missing (named X_Y_Z.png, X = entry of {}): {}", o.images,
                     missing.size(), records.size(), o.pairs, list);
  }
  scoring::ScorerBag bag(o.models, scoring::choose_device(o.device));
  const std::vector<double>& values = bag.front().label_values();
  const double lo = *std::min_element(values.begin(), values.end());
  const double hi = *std::max_element(values.begin(), values.end());
  const std::vector<scoring::SampleScores> s = bag.score_records(records, o.images, o.batch_size);
  std::vector<ensemble::PairCompScore> scores;
  for (size_t n = 0; n < s.size(); ++n) {
    ensemble::PairCompScore row;
    row.category = prompts[n / 4].category;
    row.pair_id = std::to_string(n / 4);
    row.prompt_index = static_cast<int>(n / 2 % 2);
    row.image_index = static_cast<int>(n % 2);
    row.score =
        o.scale == "unit" ? std::clamp((s[n].score - lo) / (hi - lo), 0.0, 1.0) : s[n].score;
    scores.push_back(row);
  }
  log::info("paircomp: {} images scored", s.size());
  return scores;
}

// FocusDiff's score.json: {"<pair>": [{pair_idx, prompt_idx, image_idx, score} x 4]}, which its
// summary_scores.py reads.
void write_focusdiff_scores(const std::string& path,
                            const std::vector<ensemble::PairCompScore>& scores) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const auto& s : scores)
    out[s.pair_id].push_back({{"pair_idx", std::stoi(s.pair_id)},
                              {"prompt_idx", s.prompt_index},
                              {"image_idx", s.image_index},
                              {"score", s.score}});
  write_file_atomically(path, out.dump(2) + "\n");
}

CommandRun setup_paircomp(CLI::App& command) {
  auto o = std::make_shared<Options>();
  auto* scores = command
                     .add_option("--scores", o->scores,
                                 "JSON lines {category, pair_id, prompt_index, image_index, score}")
                     ->check(CLI::ExistingFile);
  auto* models = command.add_option("--model", o->models,
                                    "Exported fold model folder to score with (repeat for a bag)");
  auto* pairs = command.add_option("--pairs", o->pairs, "FocusDiff's PairComp.json")
                    ->check(CLI::ExistingFile);
  auto* images = command.add_option("--images", o->images, "Folder of the X_Y_Z.png images")
                     ->check(CLI::ExistingDirectory);
  command.add_option("--scores-out", o->scores_out,
                     "Write each image's score as FocusDiff's score.json");
  command
      .add_option("--scale", o->scale,
                  "unit: the score mapped to [0, 1] by the label range; labels: the score")
      ->capture_default_str()
      ->check(CLI::IsMember({"unit", "labels"}));
  command.add_option("--batch-size", o->batch_size, "Images per forward")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  command.add_option("--device", o->device, "auto, cuda or cpu")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "cuda", "cpu"}));
  command.add_flag("--json", o->json, "Print one JSON object instead of a table");
  scores->excludes(models)->excludes(pairs)->excludes(images);
  models->needs(pairs)->needs(images);
  pairs->needs(models);
  images->needs(models);
  command.footer(
      "Each pair needs the 4 scores of 2 prompts x 2 images. s_a: mean over pairs of their "
      "arithmetic mean; s_g: of their geometric mean; 'average' weighs categories equally.");
  return [o] {
    if (o->scores.empty() && o->models.empty())
      throw_user_error(
          "paircomp: give --scores FILE or --model DIR --pairs PairComp.json "
          "--images DIR");
    std::vector<ensemble::PairCompScore> rows;
    std::string source = o->scores;
    if (!o->scores.empty()) {
      rows = ensemble::read_paircomp_scores(o->scores);
    } else {
      rows = score_pairs(*o);
      source = o->pairs;
      if (!o->scores_out.empty()) write_focusdiff_scores(o->scores_out, rows);
    }
    const auto r = ensemble::paircomp(rows, source);
    if (o->json) {
      nlohmann::ordered_json categories = nlohmann::ordered_json::object();
      for (const auto& [name, c] : r.categories) {
        categories[name] = {{"pairs", c.pairs}, {"s_a", c.s_a}, {"s_g", c.s_g}};
      }
      const nlohmann::ordered_json out = {
          {"categories", categories}, {"s_a", r.s_a}, {"s_g", r.s_g}};
      std::printf("%s\n", out.dump().c_str());
      return 0;
    }
    std::printf("%-32s %6s %8s %8s\n", "category", "pairs", "s_a", "s_g");
    size_t count = 0;
    for (const auto& [name, c] : r.categories) {
      std::printf("%-32s %6zu %8.4f %8.4f\n", name.c_str(), c.pairs, c.s_a, c.s_g);
      count += c.pairs;
    }
    std::printf("%-32s %6zu %8.4f %8.4f\n", "average", count, r.s_a, r.s_g);
    return 0;
  };
}

TOKENFOCUS_COMMAND("paircomp",
                   "PairComp s_a / s_g: score FocusDiff's prompt pairs with a trained scorer, or "
                   "summarise scores",
                   setup_paircomp);

}  // namespace
}  // namespace tokenfocus::launch
