// `tokenfocus plan CONFIG [--world-size N] [--gpu-memory 80GiB]`: per backbone, the bytes one rank
// of `train` holds (trainer/memory_plan.h, docs/memory.md) and whether that fits. Nothing is
// allocated: parameters are counted from each backbone's config.json.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/config/run_config.h"
#include "common/error.h"
#include "data/batch_builder.h"
#include "data/chat_template.h"
#include "data/label_set.h"
#include "data/records.h"
#include "data/tokenizer.h"
#include "launch/command_registry.h"
#include "models/parameter_count.h"
#include "scoring/scorer_folder.h"
#include "trainer/memory_plan.h"

namespace tokenfocus::launch {
namespace {

namespace fs = std::filesystem;

// Where a backbone's architecture comes from, first found wins: --model NAME=FILE, the model
// folder's config.json, the tiny init_config `prepare` initialises from, then the config.json
// shipped for the published checkpoints beside the run config (<config dir>/models/<name>.json).
std::string architecture_file(const config::BackboneConfig& b, size_t index,
                              const std::string& run_config,
                              const std::map<std::string, std::string>& models) {
  const auto given = models.find(b.name);
  if (given != models.end()) {
    if (!fs::is_regular_file(given->second))
      throw_user_error("--model {}={}: no such file", b.name, given->second);
    return given->second;
  }
  std::vector<std::string> candidates = {(fs::path(b.model_dir) / "config.json").string()};
  if (!b.init_config.empty()) candidates.push_back(b.init_config);
  candidates.push_back(
      (fs::path(run_config).parent_path() / "models" / (b.name + ".json")).string());
  for (const auto& candidate : candidates)
    if (fs::is_regular_file(candidate)) return candidate;
  std::string tried;
  for (const auto& candidate : candidates) tried += (tried.empty() ? "" : ", ") + candidate;
  throw_user_error(
      "backbones[{}] ({}): no config.json to plan from (tried {}); pass --model {}=CONFIG_JSON",
      index, b.name, tried, b.name);
}

// Bytes of the folder's weight files (what load_backbone maps), 0 when it has none.
int64_t checkpoint_bytes(const std::string& model_dir) {
  int64_t bytes = 0;
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) return 0;
  for (const auto& entry : fs::directory_iterator(model_dir, ec))
    if (entry.path().extension() == ".safetensors")
      bytes += static_cast<int64_t>(entry.file_size());
  return bytes;
}

// --measure-rows: every training record's packed row built as `train` builds it (its tokenizer,
// chat template, image processor and questions), for the longest row and the most questions.
struct MeasuredRows {
  int64_t row_tokens = 0, questions = 0;
};

MeasuredRows measure_rows(const config::RunConfig& run, const config::BackboneConfig& b,
                          const std::string& model_type) {
  const auto records = data::read_records(run.data.train_records);
  const auto tokenizer = data::Tokenizer::from_file(
      b.tokenizer.empty() ? b.model_dir + "/tokenizer.json" : b.tokenizer);
  const config::PromptConfig prompt = run.prompt_for(b);
  const auto overall =
      data::resolve_label_set(tokenizer, prompt.overall_labels, false, "prompt.overall_labels");
  const auto element = data::resolve_label_set(tokenizer, prompt.element_labels,
                                               prompt.sum_case_variants, "prompt.element_labels");
  const auto processor = scoring::make_image_processor_for(b.model_dir, b.image);
  auto options =
      data::BatchBuilderOptions::for_prompt(prompt, data::chat_template_for_model_type(model_type));
  options.image_root = run.data.image_root;
  options.soft_targets = run.loss.soft_targets;
  options.training_weights = true;
  const data::BatchBuilder builder(records, *processor, tokenizer, overall, element, options);
  MeasuredRows m;
  for (size_t i = 0; i < records.size(); ++i) {
    const data::Batch batch = builder.build({static_cast<int64_t>(i)});
    m.row_tokens = std::max(m.row_tokens, batch.seq_len);
    m.questions = std::max(m.questions, batch.num_sequences());
  }
  if (m.row_tokens == 0)
    throw_user_error("--measure-rows: {} has no records", run.data.train_records);
  return m;
}

nlohmann::json plan_json(const trainer::BackbonePlan& p, int64_t device_bytes) {
  nlohmann::json terms = nlohmann::json::array();
  for (const auto& t : p.activation_terms)
    terms.push_back({{"name", t.name}, {"bytes", t.bytes}, {"detail", t.detail}});
  const auto& s = p.sequence;
  return {{"backbone", p.backbone},
          {"architecture", p.architecture_source},
          {"family", p.family},
          {"finetune", p.finetune},
          {"precision", p.precision},
          {"gradient_checkpointing", p.checkpointing},
          {"world_size", p.world_size},
          {"parameters",
           {{"total", p.counts.total},
            {"trainable", p.counts.trainable},
            {"lora", p.counts.lora},
            {"lora_trainable", p.counts.lora_trainable}}},
          {"sequence",
           {{"rows", s.rows},
            {"row_tokens", s.row_tokens},
            {"image_tokens", s.image_tokens},
            {"questions", s.questions},
            {"vision_tokens", s.vision_tokens}}},
          {"bytes",
           {{"weights_bf16", p.weights_bf16},
            {"weights_fp32", p.weights_fp32},
            {"lora", p.lora_weights},
            {"gradients", p.gradients},
            {"optimizer", p.optimizer},
            {"optimizer_zero1", p.optimizer_zero1},
            {"zero1_gradient_shard", p.zero1_gradient_shard},
            {"activations", p.activations},
            {"runtime_reserve", p.runtime_reserve},
            {"total", p.total(false)},
            {"total_zero1", p.total(true)},
            {"load_host", p.load_host}}},
          {"activation_terms", terms},
          {"device_bytes", device_bytes},
          {"fits", device_bytes <= 0 || p.total(false) <= device_bytes},
          {"fits_zero1", device_bytes <= 0 || p.total(true) <= device_bytes}};
}

CommandRun setup_plan(CLI::App& command) {
  struct Options {
    std::string config, gpu_memory = "80GiB", reserve, device = "cuda", backbone, finetune;
    std::vector<std::string> overrides, models;
    int64_t world_size = 0;
    trainer::SequenceAssumptions sequence;
    bool json = false, measure = false;
  };
  auto o = std::make_shared<Options>();
  command.add_option("config", o->config, "Run config (YAML)")->required();
  command.add_option("--set", o->overrides, "Override a key: a.b.c=value (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  command.add_option("--world-size", o->world_size,
                     "Ranks of the run (default: slurm.nodes × slurm.tasks_per_node)");
  command.add_option("--gpu-memory", o->gpu_memory, "Memory of one device (80GiB, 80GB, ...)")
      ->capture_default_str();
  command.add_option("--device", o->device, "Where the ranks run: cuda, or cpu (host RAM)")
      ->check(CLI::IsMember({"cuda", "cpu"}))
      ->capture_default_str();
  command.add_option("--runtime-reserve", o->reserve,
                     "Memory outside tensors per rank (default: 1GiB on cuda, 0 on cpu)");
  command.add_option("--backbone", o->backbone, "Plan only this backbone");
  command.add_option("--finetune", o->finetune, "Plan every backbone with this finetune mode")
      ->check(CLI::IsMember({"full", "lora", "head"}));
  command
      .add_option("--model", o->models,
                  "NAME=CONFIG_JSON: the architecture of backbone NAME (repeatable)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  command.add_option("--row-tokens", o->sequence.row_tokens,
                     "Longest packed row, measured (replaces the sum of the lengths below)");
  command
      .add_option("--template-tokens", o->sequence.template_tokens,
                  "Shared text tokens of a row (chat template, system turn)")
      ->capture_default_str();
  command
      .add_option("--overall-tokens", o->sequence.overall_tokens,
                  "Tokens of the overall question's branch")
      ->capture_default_str();
  command
      .add_option("--element-tokens", o->sequence.element_tokens,
                  "Tokens of one element question's branch")
      ->capture_default_str();
  command.add_option("--elements", o->sequence.elements, "Element questions per sample")
      ->capture_default_str();
  command.add_flag("--measure-rows", o->measure,
                   "Take the longest row and the most questions from the training records (built "
                   "as train builds them: needs the data, the images and the tokenizer)");
  command.add_flag("--json", o->json, "One JSON object per backbone instead of the table");
  command.footer(
      "Counts each backbone's parameters from its config.json (model_dir, init_config, or "
      "<config dir>/models/<backbone name>.json) and prints the per-rank bytes of weights by "
      "dtype, LoRA factors, gradients, AdamW state with and without ZeRO-1, and activations at "
      "the configured image size, micro-batch and checkpointing. See docs/memory.md.");
  return [o]() -> int {
    const auto resolved = config::load_run_config(o->config, o->overrides);
    const config::RunConfig& run = resolved.config;
    std::map<std::string, std::string> models;
    for (const auto& m : o->models) {
      const auto eq = m.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == m.size())
        throw_user_error("--model '{}': expected NAME=CONFIG_JSON", m);
      models[m.substr(0, eq)] = m.substr(eq + 1);
    }
    for (const auto& [name, file] : models) {
      bool known = false;
      for (const auto& b : run.backbones) known = known || b.name == name;
      if (!known) throw_user_error("--model {}=...: no backbone of that name", name);
    }
    trainer::PlanOptions options;
    options.world_size =
        o->world_size > 0 ? o->world_size : run.slurm.nodes * run.slurm.tasks_per_node;
    if (options.world_size < 1) throw_user_error("--world-size must be at least 1");
    options.cuda = o->device == "cuda";
    options.runtime_reserve = !o->reserve.empty()
                                  ? trainer::parse_byte_size(o->reserve, "--runtime-reserve")
                                  : (options.cuda ? int64_t{1} << 30 : 0);
    options.sequence = o->sequence;
    const int64_t device_bytes = trainer::parse_byte_size(o->gpu_memory, "--gpu-memory");

    bool planned = false, all_fit = true;
    nlohmann::json all = nlohmann::json::array();
    for (size_t i = 0; i < run.backbones.size(); ++i) {
      config::BackboneConfig b = run.backbones[i];
      if (!o->backbone.empty() && b.name != o->backbone) continue;
      if (!o->finetune.empty()) b.finetune = o->finetune;
      const std::string file = architecture_file(b, i, o->config, models);
      const models::ArchitectureShapes shapes = models::read_architecture_shapes(file);
      trainer::PlanOptions backbone_options = options;
      if (o->measure) {
        const MeasuredRows m = measure_rows(run, b, shapes.sizes.family);
        backbone_options.sequence.row_tokens = m.row_tokens;
        backbone_options.sequence.elements = m.questions - 1;
      }
      const trainer::BackbonePlan p = trainer::plan_backbone(
          run, b, shapes, file, checkpoint_bytes(b.model_dir), backbone_options);
      planned = true;
      all_fit = all_fit && p.total(false) <= device_bytes;
      if (o->json)
        all.push_back(plan_json(p, device_bytes));
      else
        std::fputs((trainer::format_plan(p, device_bytes) + "\n").c_str(), stdout);
    }
    if (!planned) throw_user_error("--backbone {}: no backbone of that name", o->backbone);
    if (o->json) {
      std::puts(all.dump(2).c_str());
    } else {
      std::printf("%s: %s on %lld × %s per rank without ZeRO-1\n", o->config.c_str(),
                  all_fit ? "every backbone fits" : "NOT every backbone fits",
                  static_cast<long long>(options.world_size),
                  trainer::format_bytes(device_bytes).c_str());
    }
    return kExitOk;
  };
}

TOKENFOCUS_COMMAND("plan", "Per-rank memory of a run's backbones, and whether it fits", setup_plan);

}  // namespace
}  // namespace tokenfocus::launch
