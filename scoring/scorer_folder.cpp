#include "scoring/scorer_folder.h"

#include <unistd.h>

#include <filesystem>
#include <map>

#include <fmt/format.h>

#include "common/atomic_file.h"
#include "common/config/json_writer.h"
#include "common/config/resolve.h"
#include "common/error.h"
#include "data/chat_template.h"
#include "losses/batch_targets.h"
#include "models/registry.h"
#include "models/safetensors.h"

namespace tokenfocus::scoring {
namespace {

namespace fs = std::filesystem;

void copy_into(const fs::path& from, const fs::path& folder) {
  std::error_code error;
  fs::copy_file(from, folder / from.filename(), fs::copy_options::overwrite_existing, error);
  if (error)
    throw_user_error("cannot copy {} into {}: {}", from.string(), folder.string(), error.message());
}

}  // namespace

std::string chat_template_name(const std::string& model_type) {
  switch (data::chat_template_for_model_type(model_type)) {
    case data::ChatTemplateKind::kQwen2VL:
      return "qwen2_vl";
    case data::ChatTemplateKind::kInternVL2_5:
      return "internvl2_5";
  }
  throw_internal_error("no chat template name for model type {}", model_type);
}

std::string scorer_folder_path(const std::string& run_dir, const std::string& backbone,
                               int64_t fold) {
  return fmt::format("{}/models/{}/fold{}", run_dir, backbone, fold);
}

void export_scorer_folder(const std::string& dir, models::Backbone& model,
                          const config::BackboneConfig& b, const config::RunConfig& run,
                          const std::string& run_config_hash, int64_t fold) {
  const fs::path target(dir);
  const fs::path temporary = target.string() + fmt::format(".tmp-{}", ::getpid());
  fs::remove_all(temporary);
  fs::create_directories(temporary);

  std::map<std::string, torch::Tensor> weights;
  for (const auto& item : model.named_parameters()) {
    if (item.key().find(".lora_") != std::string::npos)
      throw_internal_error("export of {}: LoRA factor {} not merged", dir, item.key());
    weights[item.key()] = item.value().detach().cpu();
  }
  models::save_safetensors((temporary / "model.safetensors").string(), weights, {{"format", "pt"}});
  copy_into(fs::path(b.model_dir) / "config.json", temporary);
  if (fs::exists(fs::path(b.model_dir) / "preprocessor_config.json"))
    copy_into(fs::path(b.model_dir) / "preprocessor_config.json", temporary);
  const fs::path tokenizer =
      b.tokenizer.empty() ? fs::path(b.model_dir) / "tokenizer.json" : fs::path(b.tokenizer);
  std::error_code error;
  fs::copy_file(tokenizer, temporary / "tokenizer.json", fs::copy_options::overwrite_existing,
                error);
  if (error)
    throw_user_error("cannot copy {} into {}: {}", tokenizer.string(), temporary.string(),
                     error.message());

  config::ScorerConfig scorer;
  scorer.backbone = b.name;
  scorer.fold = fold;
  scorer.model_type = model.model_type();
  scorer.chat_template = chat_template_name(scorer.model_type);
  scorer.finetune = b.finetune;
  scorer.run_config_hash = run_config_hash;
  scorer.prompt = run.prompt_for(b);  // with the backbone's own question and labels
  scorer.image = b.image;
  scorer.temperature = run.loss.temperature;
  write_file_atomically((temporary / "tokenfocus.json").string(),
                        config::to_json(scorer).dump(2) + "\n");

  fs::remove_all(target);  // an older export of the same fold
  fs::create_directories(target.parent_path());
  fs::rename(temporary, target);
}

ScorerFolder load_scorer_folder(const std::string& dir) {
  const fs::path folder(dir);
  if (!fs::is_directory(folder))
    throw_user_error("{}: no such model folder (train writes RUN/models/<backbone>/fold<k>)", dir);
  for (const char* file : {"tokenfocus.json", "config.json", "model.safetensors", "tokenizer.json"})
    if (!fs::exists(folder / file))
      throw_user_error("{}: missing {} (not a folder written by tokenfocus train)", dir, file);
  const std::string settings_file = (folder / "tokenfocus.json").string();
  config::ScorerConfig settings = config::resolve_file<config::ScorerConfig>(settings_file).config;
  data::Tokenizer tokenizer = data::Tokenizer::from_file((folder / "tokenizer.json").string());
  ScorerFolder scorer{std::move(settings),
                      // As exported: a bf16 run's frozen weights stay bf16 and compute under
                      // autocast, so scores equal the training run's predictions.
                      models::load_backbone(dir, {std::nullopt}),
                      std::move(tokenizer),
                      {},
                      {},
                      {},
                      {},
                      nullptr};
  if (scorer.model->model_type() != scorer.config.model_type)
    throw_user_error("{}: model_type is '{}' but config.json's is '{}'", settings_file,
                     scorer.config.model_type, scorer.model->model_type());
  if (chat_template_name(scorer.config.model_type) != scorer.config.chat_template)
    throw_user_error("{}: chat_template '{}' is not the template of model type '{}' ('{}')",
                     settings_file, scorer.config.chat_template, scorer.config.model_type,
                     chat_template_name(scorer.config.model_type));
  const config::PromptConfig& prompt = scorer.config.prompt;
  scorer.overall_labels = data::resolve_label_set(scorer.tokenizer, prompt.overall_labels, false,
                                                  "prompt.overall_labels");
  scorer.element_labels = data::resolve_label_set(
      scorer.tokenizer, prompt.element_labels, prompt.sum_case_variants, "prompt.element_labels");
  scorer.overall = losses::label_head_from(scorer.overall_labels);
  scorer.element = losses::label_head_from(scorer.element_labels);
  scorer.processor = make_image_processor_for(dir, scorer.config.image);
  return scorer;
}

std::unique_ptr<data::ImageProcessor> make_image_processor_for(const std::string& model_dir,
                                                               const config::ImageConfig& image) {
  data::ImageProcessorSettings s = data::read_image_processor_settings(model_dir);
  s.min_pixels = image.min_pixels;
  s.max_pixels = image.max_pixels;
  s.max_tiles = image.max_tiles;
  s.use_thumbnail = image.use_thumbnail;
  return data::make_image_processor(s);
}

}  // namespace tokenfocus::scoring
