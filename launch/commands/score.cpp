// `tokenfocus score --model DIR (--data records.json [--image-root D] | --image IMG --prompt
// TEXT)`: scores with one exported fold model (RUN/models/<backbone>/fold<k>) and writes a JSON
// line per sample — for people who just want a score. One process, no MPI, no run config.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/log.h"
#include "data/records.h"
#include "launch/command_registry.h"
#include "scoring/scorer_bag.h"
#include "scoring/scores_json.h"

namespace tokenfocus::launch {
namespace {

namespace fs = std::filesystem;

std::string json_lines(const std::vector<scoring::SampleScores>& scores,
                       const std::vector<data::Record>& records,
                       const std::vector<std::string>& labels) {
  std::ostringstream out;
  for (size_t i = 0; i < scores.size(); ++i) {
    nlohmann::ordered_json line;
    line["img_path"] = records[i].img_path;
    line["prompt"] = records[i].prompt;
    line.update(scoring::scores_json(scores[i], records[i], labels));
    out << line.dump() << "\n";
  }
  return out.str();
}

CommandRun setup_score(CLI::App& command) {
  struct Options {
    std::string model, data, image_root, image, prompt, out;
    std::string device = "auto";
    int64_t batch_size = 8;
    bool no_packing = false;
    int64_t forward_tokens = 0;
  };
  auto o = std::make_shared<Options>();
  command.add_option("--model", o->model, "Exported fold model folder (RUN/models/<b>/fold<k>)")
      ->required();
  auto* data = command.add_option("--data", o->data, "Records JSON (EvalMuse or challenge layout)");
  command.add_option("--image-root", o->image_root,
                     "Folder the records' img_path values are relative to (default: --data's)");
  auto* image = command.add_option("--image", o->image, "One image to score");
  auto* prompt = command.add_option("--prompt", o->prompt, "Its prompt");
  command.add_option("--out", o->out, "Write the JSON lines here (default: standard output)");
  command.add_option("--batch-size", o->batch_size, "Samples per forward")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  command
      .add_option("--device", o->device,
                  "auto (the first GPU when there is one), cuda (a GPU, or a clear error) or cpu")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "cuda", "cpu"}));
  command.add_flag("--no-packing", o->no_packing,
                   "One decoder row per question instead of one per sample (same scores, slower)");
  command
      .add_option("--forward-tokens", o->forward_tokens,
                  "At most this many padded tokens per forward, whole samples each (0 = a batch)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  data->excludes(image)->excludes(prompt);
  image->needs(prompt);
  prompt->needs(image);
  command.footer(
      "One JSON line per sample: img_path, prompt, score (expected label value), label_probs, and "
      "element_probs when the model asks element questions and the records name elements.");
  return [o]() -> int {
    if (o->data.empty() && o->image.empty())
      throw_user_error("score: give --data RECORDS.json or --image IMG --prompt TEXT");
    scoring::ScorerBag scorer({o->model}, scoring::choose_device(o->device),
                              {!o->no_packing, o->forward_tokens});
    std::vector<data::Record> records;
    std::string root;
    if (!o->data.empty()) {
      root = o->image_root.empty() ? fs::path(o->data).parent_path().string() : o->image_root;
      records = data::check_images(data::read_records(o->data), root, data::MissingImages::kError,
                                   o->data);
    } else {
      if (!fs::exists(o->image)) throw_user_error("--image {}: no such file", o->image);
      data::Record record;
      record.prompt_id = "cli";
      record.prompt = o->prompt;
      record.img_path = fs::absolute(o->image).string();
      records.push_back(record);
    }
    const std::string text =
        json_lines(scorer.score_records(records, root, o->batch_size), records, scorer.labels());
    if (o->out.empty()) {
      std::cout << text << std::flush;
    } else {
      write_file_atomically(o->out, text);
      log::info("score: {} sample(s) scored with {} (fold {} of {}); wrote {}", records.size(),
                o->model, scorer.front().folder().config.fold,
                scorer.front().folder().config.backbone, o->out);
    }
    return 0;
  };
}

TOKENFOCUS_COMMAND("score", "Score (image, prompt) pairs with one exported fold model",
                   setup_score);

}  // namespace
}  // namespace tokenfocus::launch
