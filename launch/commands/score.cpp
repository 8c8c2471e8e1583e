// `tokenfocus score --model DIR (--data records.json [--image-root D] | --image IMG --prompt
// TEXT)`: scores with one exported fold model (RUN/models/<backbone>/fold<k>) and writes a JSON
// line per sample — for people who just want a score. One process; no run config needed.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/log.h"
#include "data/batch_builder.h"
#include "data/chat_template.h"
#include "data/records.h"
#include "launch/command_registry.h"
#include "trainer/communicator.h"
#include "trainer/cpu_threads.h"
#include "trainer/scorer_folder.h"
#include "trainer/vqa_task.h"

namespace tokenfocus::launch {
namespace {

namespace fs = std::filesystem;

std::string json_lines(const data::PredictionSet& p, const std::vector<data::Record>& records,
                       const std::vector<std::string>& labels) {
  std::ostringstream out;
  for (size_t i = 0; i < p.size(); ++i) {
    nlohmann::ordered_json line;
    line["img_path"] = p.keys[i];
    line["prompt"] = records[i].prompt;
    line["score"] = p.score[i];
    nlohmann::ordered_json q = nlohmann::ordered_json::object();
    for (size_t k = 0; k < labels.size(); ++k)
      q[labels[k]] = p.label_probs[i * static_cast<size_t>(p.num_labels) + k];
    line["label_probs"] = q;
    nlohmann::ordered_json elements = nlohmann::ordered_json::object();
    for (int64_t e = p.element_offsets[i]; e < p.element_offsets[i + 1]; ++e)
      elements[p.element_keys[static_cast<size_t>(e)]] = p.element_prob[static_cast<size_t>(e)];
    if (!elements.empty()) line["element_probs"] = elements;
    out << line.dump() << "\n";
  }
  return out.str();
}

CommandRun setup_score(CLI::App& command) {
  struct Options {
    std::string model, data, image_root, image, prompt, out;
    std::string backend = "auto";
    int64_t batch_size = 8;
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
      .add_option("--backend", o->backend,
                  "auto (the GPU when there is one), nccl (a GPU, or a clear error) or mpi (CPU)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "nccl", "mpi"}));
  data->excludes(image)->excludes(prompt);
  image->needs(prompt);
  prompt->needs(image);
  command.footer(
      "One JSON line per sample: img_path, prompt, score (expected label value), label_probs, and "
      "element_probs when the model asks element questions and the records name elements.");
  return [o]() -> int {
    if (o->data.empty() && o->image.empty())
      throw_user_error("score: give --data RECORDS.json or --image IMG --prompt TEXT");
    trainer::Scorer scorer = trainer::load_scorer_folder(o->model);
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
    trainer::CommunicatorOptions comm_options;
    comm_options.backend = o->backend;
    auto comm = trainer::make_communicator(comm_options);
    trainer::configure_cpu_threads(*comm, 0);
    // The communicator picked the device (cuda:local_rank with NCCL); batches follow the model.
    if (!comm->device().is_cpu()) scorer.model->to(comm->device());

    const config::PromptConfig& prompts = scorer.config.prompt;
    data::BatchBuilderOptions options;
    options.image_root = root;
    options.chat_template = data::chat_template_for_model_type(scorer.model->model_type());
    options.system_message = prompts.system_message;
    options.overall_question = prompts.overall_question;
    options.element_question = prompts.element_question;
    options.element_questions = prompts.element_questions;
    const data::BatchBuilder builder(records, *scorer.processor, scorer.tokenizer,
                                     scorer.overall_labels, scorer.element_labels, options);
    trainer::PredictorOptions predictor;
    predictor.batch_size = o->batch_size;
    predictor.temperature = scorer.config.temperature;
    predictor.sum_case_variants = prompts.sum_case_variants;
    std::vector<int64_t> indices(records.size());
    for (size_t i = 0; i < indices.size(); ++i) indices[i] = static_cast<int64_t>(i);
    const data::PredictionSet predictions = trainer::predict_records(
        *scorer.model, builder, records, indices, scorer.overall, scorer.element, predictor, *comm);
    const std::string text = json_lines(predictions, records, scorer.overall_labels.labels);
    if (o->out.empty()) {
      std::cout << text << std::flush;
    } else {
      write_file_atomically(o->out, text);
      log::info("score: {} sample(s) scored with {} (fold {} of {}); wrote {}", records.size(),
                o->model, scorer.config.fold, scorer.config.backbone, o->out);
    }
    return 0;
  };
}

TOKENFOCUS_COMMAND("score", "Score (image, prompt) pairs with one exported fold model",
                   setup_score);

}  // namespace
}  // namespace tokenfocus::launch
