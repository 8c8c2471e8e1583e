#include "trainer/fold_runner.h"

#include <filesystem>
#include <functional>
#include <limits>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/log.h"
#include "data/batch_builder.h"
#include "data/chat_template.h"
#include "data/element_flags.h"
#include "data/folds.h"
#include "data/image_processor.h"
#include "data/label_set.h"
#include "data/prediction_store.h"
#include "data/pseudo_labels.h"
#include "data/records.h"
#include "data/tokenizer.h"
#include "ensemble/metrics.h"
#include "losses/batch_targets.h"
#include "models/peft.h"
#include "models/registry.h"
#include "scoring/scorer_folder.h"
#include "trainer/checkpoint.h"
#include "trainer/precision.h"
#include "trainer/vqa_task.h"

namespace tokenfocus::trainer {
namespace {

namespace fs = std::filesystem;

struct Dataset {
  std::vector<data::Record> train, test;
  // What training batches are drawn from: `train` (same indices), then the pseudo-labelled
  // records (data.pseudo_labels), which every fold trains on and none evaluates.
  std::vector<data::Record> fit;

  std::vector<int64_t> fit_indices(const data::FoldAssignment& folds, int64_t fold) const {
    std::vector<int64_t> indices = folds.training_indices(fold);
    for (size_t i = train.size(); i < fit.size(); ++i) indices.push_back(static_cast<int64_t>(i));
    return indices;
  }
};

Dataset read_dataset(const config::DataConfig& data) {
  const auto policy = data::parse_missing_images(data.missing_images);
  Dataset d;
  d.train = data::check_images(data::read_records(data.train_records), data.image_root, policy,
                               data.train_records);
  const auto flagged = data::apply_element_flags(d.train, data.element_flags);
  if (!data.element_flags.empty())
    log::info("data.element_flags: {} element question(s) reweighted, {} not asked in training",
              flagged.weighted, flagged.dropped);
  if (!data.test_records.empty())
    d.test = data::check_images(data::read_records(data.test_records), data.image_root, policy,
                                data.test_records);
  d.fit = d.train;
  if (!data.pseudo_labels.predictions.empty()) {
    const std::string path =
        data.pseudo_labels.records.empty() ? data.test_records : data.pseudo_labels.records;
    data::PseudoLabels pseudo = data::read_pseudo_labels(data.pseudo_labels, path);
    pseudo.records = data::check_images(std::move(pseudo.records), data.image_root, policy, path);
    data::check_disjoint(d.train, pseudo.records, data.train_records);
    log::info(
        "data.pseudo_labels: {} of {} unlabelled record(s) of {} join training with {}'s "
        "predictions (weight {}; {} left out and {} element question(s) not asked below "
        "confidence {})",
        pseudo.records.size(), pseudo.unlabelled, path, data.pseudo_labels.predictions,
        data.pseudo_labels.weight, pseudo.left_out, pseudo.elements_left_out,
        data.pseudo_labels.min_confidence);
    for (auto& r : pseudo.records) d.fit.push_back(std::move(r));
  }
  return d;
}

// A teacher over other label values than backbone b's cannot be its soft target: say so before
// training rather than at the first batch that holds such a record.
void check_pseudo_label_values(const Dataset& dataset, const config::BackboneConfig& b,
                               const data::LabelSet& overall) {
  for (size_t i = dataset.train.size(); i < dataset.fit.size(); ++i) {
    const data::Record& record = dataset.fit[i];
    if (record.overall_target.probabilities.empty()) continue;
    try {
      data::in_record_context(static_cast<int64_t>(i - dataset.train.size()), record,
                              [&] { data::check_soft_target(record.overall_target, overall); });
    } catch (const UserError& e) {
      throw UserError(fmt::format("backbone {}: data.pseudo_labels {}", b.name, e.what()));
    }
  }
}

// Which parameters train: all (full), the LoRA factors (lora) or the LM head (head); then the
// vision tower is frozen when asked.
void configure_finetuning(models::Backbone& model, const config::BackboneConfig& b) {
  if (b.finetune == "lora") {
    const auto adapted = models::apply_lora(model, b.lora);
    log::info("{}: LoRA r={} on {} layers", b.name, b.lora.rank, adapted.size());
  }
  for (auto& item : model.named_parameters()) {
    const std::string& name = item.key();
    bool trainable = true;
    if (b.finetune == "lora") trainable = name.find("lora_") != std::string::npos;
    if (b.finetune == "head") trainable = name.rfind("lm_head.", 0) == 0;
    item.value().set_requires_grad(trainable);
  }
  if (b.freeze_vision) model.freeze_vision(true);
  model.set_gradient_checkpointing(b.gradient_checkpointing);
}

// The backbone as a run trains it: loaded in the dtype optim.precision asks for, its trainable
// parameters chosen, and (bf16) frozen weights in bf16 beside float32 trainable ones.
std::shared_ptr<models::Backbone> load_for_training(const config::RunConfig& run,
                                                    const config::BackboneConfig& b) {
  models::LoadOptions load;
  load.dtype = load_dtype_for(run.optim.precision, b.finetune);
  std::shared_ptr<models::Backbone> model = models::load_backbone(b.model_dir, load);
  configure_finetuning(*model, b);
  store_weights_for(run.optim.precision, *model);
  return model;
}

std::vector<double> element_truth(const std::vector<data::Record>& records,
                                  const std::vector<int64_t>& indices) {
  std::vector<double> truth;
  for (int64_t i : indices)
    for (const auto& e : records[static_cast<size_t>(i)].elements)
      truth.push_back(e.mean.value_or(std::numeric_limits<double>::quiet_NaN()));
  return truth;
}

// Metrics of predictions against the records' MOS and element means (rank 0's predictions).
ensemble::Metrics evaluate(const data::PredictionSet& p, const std::vector<data::Record>& records,
                           const std::vector<int64_t>& indices, const config::RunConfig& run) {
  std::vector<double> mos;
  for (int64_t i : indices) mos.push_back(records[static_cast<size_t>(i)].mos.value_or(0.0));
  std::vector<double> element_gt = element_truth(records, indices);
  std::vector<double> element_pred = p.element_prob;
  if (element_pred.size() != element_gt.size()) element_gt.clear(), element_pred.clear();
  return ensemble::compute_metrics(mos, p.score, element_gt, element_pred,
                                   ensemble::parse_plcc_direction(run.ensemble.plcc_direction));
}

std::map<std::string, double> metrics_map(const ensemble::Metrics& m) {
  return {{"srcc", m.srcc}, {"plcc", m.plcc}, {"krcc", m.krcc},
          {"rmse", m.rmse}, {"acc", m.acc},   {"final", m.final}};
}

// Everything one backbone needs that does not depend on the fold.
struct BackboneText {
  data::Tokenizer tokenizer;
  data::LabelSet overall_labels, element_labels;
  losses::LabelHead overall, element;
};

BackboneText load_text(const config::BackboneConfig& b, const config::RunConfig& run) {
  const std::string path = b.tokenizer.empty() ? b.model_dir + "/tokenizer.json" : b.tokenizer;
  BackboneText t{data::Tokenizer::from_file(path), {}, {}, {}, {}};
  const config::PromptConfig prompt = run.prompt_for(b);
  std::string overall_key = "prompt.overall_labels";
  for (size_t i = 0; i < run.backbones.size(); ++i)
    if (run.backbones[i].name == b.name && !b.overall_labels.labels.empty())
      overall_key = fmt::format("backbones.{}.overall_labels", i);
  t.overall_labels =
      data::resolve_label_set(t.tokenizer, prompt.overall_labels, false, overall_key);
  t.element_labels = data::resolve_label_set(t.tokenizer, prompt.element_labels,
                                             prompt.sum_case_variants, "prompt.element_labels");
  t.overall = losses::label_head_from(t.overall_labels);
  t.element = losses::label_head_from(t.element_labels);
  return t;
}

data::BatchBuilderOptions builder_options(const config::RunConfig& run,
                                          const config::BackboneConfig& b,
                                          const models::Backbone& model) {
  auto options = data::BatchBuilderOptions::for_prompt(
      run.prompt_for(b), data::chat_template_for_model_type(model.model_type()));
  options.image_root = run.data.image_root;
  options.soft_targets = run.loss.soft_targets;
  return options;
}

PredictorOptions predictor_options(const config::RunConfig& run) {
  PredictorOptions predictor;
  predictor.batch_size = run.optim.micro_batch_size;
  predictor.readout.temperature = run.loss.temperature;
  predictor.readout.sum_case_variants = run.prompt.sum_case_variants;
  predictor.readout.forward_tokens = run.optim.forward_tokens;
  return predictor;
}

std::vector<int64_t> all_indices(size_t count) {
  std::vector<int64_t> indices(count);
  for (size_t i = 0; i < count; ++i) indices[i] = static_cast<int64_t>(i);
  return indices;
}

// Out-of-fold and test predictions of `model` for one fold. Collective; rank 0 gets them.
data::FoldPredictions predict_fold(models::Backbone& model, const data::BatchBuilder& train_builder,
                                   const data::BatchBuilder& test_builder, const Dataset& dataset,
                                   const std::vector<int64_t>& validation, int64_t fold,
                                   const BackboneText& text, const PredictorOptions& predictor,
                                   Communicator& comm) {
  data::FoldPredictions predictions;
  predictions.fold = fold;
  predictions.oof = predict_records(model, train_builder, dataset.train, validation, text.overall,
                                    text.element, predictor, comm);
  predictions.test =
      predict_records(model, test_builder, dataset.test, all_indices(dataset.test.size()),
                      text.overall, text.element, predictor, comm);
  return predictions;
}

// Rank 0: the fold's metrics into `predictions` and the store RUN/predictions/<b>/fold<k>.h5.
void write_fold_store(const config::ResolvedRunConfig& resolved, const config::BackboneConfig& b,
                      const Dataset& dataset, const std::vector<int64_t>& validation,
                      const BackboneText& text, const TrainSelection& selection,
                      std::optional<int64_t> optimizer_steps, data::FoldPredictions& predictions) {
  const config::RunConfig& run = resolved.config;
  predictions.metrics = metrics_map(evaluate(predictions.oof, dataset.train, validation, run));
  if (optimizer_steps)
    predictions.metrics["optimizer_steps"] = static_cast<double>(*optimizer_steps);
  data::StoreHeader header;
  header.backbone = b.name;
  header.config_yaml = resolved.canonical_yaml;
  header.config_hash = resolved.hash;
  header.code_version = selection.code_version;
  header.labels = text.overall_labels.labels;
  header.label_values = text.overall_labels.values;
  header.num_folds = run.folds.k;
  data::write_fold_predictions(run.output.run_dir, header, predictions);
}

int train_fold(const config::ResolvedRunConfig& resolved, const config::BackboneConfig& b,
               int64_t fold, const Dataset& dataset, const data::FoldAssignment& folds,
               const BackboneText& text, const TrainSelection& selection, Communicator& comm) {
  const config::RunConfig& run = resolved.config;
  const std::string label = fmt::format("{}/fold{}", b.name, fold);
  const std::string run_dir = run.output.run_dir;
  if (selection.resume && fs::exists(data::fold_predictions_path(run_dir, b.name, fold))) {
    log::info("{}: predictions exist, nothing to do", label);
    return kExitOk;
  }

  torch::manual_seed(static_cast<uint64_t>(run.seed) * 1000003ULL + static_cast<uint64_t>(fold));
  std::shared_ptr<models::Backbone> model = load_for_training(run, b);
  if (!comm.device().is_cpu()) model->to(comm.device());
  const auto processor = scoring::make_image_processor_for(b.model_dir, b.image);
  const data::BatchBuilderOptions options = builder_options(run, b, *model);
  const data::BatchBuilder train_builder(dataset.train, *processor, text.tokenizer,
                                         text.overall_labels, text.element_labels, options);
  const data::BatchBuilder test_builder(dataset.test, *processor, text.tokenizer,
                                        text.overall_labels, text.element_labels, options);
  data::BatchBuilderOptions fit_options = options;
  fit_options.training_weights = true;
  const data::BatchBuilder fit_builder(dataset.fit, *processor, text.tokenizer, text.overall_labels,
                                       text.element_labels, fit_options);
  const losses::TfPsLoss loss(run.loss, text.overall, text.element);
  const PredictorOptions predictor = predictor_options(run);

  const std::vector<int64_t> validation = folds.validation_indices(fold);
  auto epoch_end = [&](int64_t epoch, Communicator& c) -> std::string {
    const auto p = predict_records(*model, train_builder, dataset.train, validation, text.overall,
                                   text.element, predictor, c);
    if (c.rank() != 0) return "";
    const auto m = evaluate(p, dataset.train, validation, run);
    log::info("{} epoch {}: held-out SRCC {:.4f} PLCC {:.4f} acc {:.4f} final {:.4f}", label,
              epoch + 1, m.srcc, m.plcc, m.acc, m.final);
    nlohmann::json j = metrics_map(m);
    j["epoch"] = epoch + 1;
    return j.dump();
  };
  VqaTrainingTask task(*model, fit_builder, dataset.fit_indices(folds, fold), loss, text.overall,
                       text.element, comm, epoch_end, run.optim.forward_tokens);
  task.set_loader(run.data.loader.workers, run.data.loader.prefetch);

  LoopOptions loop;
  loop.optim = run.optim;
  loop.distributed = run.distributed;
  loop.output = run.output;
  loop.checkpoint_dir = fmt::format("{}/checkpoints/{}/fold{}", run_dir, b.name, fold);
  loop.metrics_path = fmt::format("{}/metrics/{}-fold{}.jsonl", run_dir, b.name, fold);
  loop.config_hash = resolved.hash;
  loop.seed = static_cast<uint64_t>(run.seed);
  loop.fold = fold;
  loop.resume = selection.resume;
  loop.label = label;
  if (b.finetune == "lora")  // checkpoints also carry the adapter in PEFT's layout
    loop.write_checkpoint_extra = [&](const std::string& dir) {
      models::save_peft_adapter(dir + "/adapter", *model, b.lora, b.model_dir);
    };
  const LoopResult result = run_training(task, comm, loop);
  if (result.preempted) return kExitRequeue;

  if (b.finetune == "lora") {
    if (comm.rank() == 0)
      models::save_peft_adapter(fmt::format("{}/adapters/{}/fold{}", run_dir, b.name, fold), *model,
                                b.lora, b.model_dir);
    // Predict with the merged weights the exported folder holds, so that `predict` and `score`
    // from that folder reproduce these predictions exactly.
    models::merge_lora(*model);
  }
  data::FoldPredictions predictions = predict_fold(*model, train_builder, test_builder, dataset,
                                                   validation, fold, text, predictor, comm);
  if (comm.rank() == 0) {
    write_fold_store(resolved, b, dataset, validation, text, selection, result.optimizer_steps,
                     predictions);
    scoring::export_scorer_folder(scoring::scorer_folder_path(run_dir, b.name, fold), *model, b,
                                  run, resolved.hash, fold);
    log::info("{}: out-of-fold SRCC {:.4f} PLCC {:.4f} acc {:.4f} final {:.4f}; wrote {}", label,
              predictions.metrics["srcc"], predictions.metrics["plcc"], predictions.metrics["acc"],
              predictions.metrics["final"], data::fold_predictions_path(run_dir, b.name, fold));
  }
  comm.barrier();
  return kExitOk;
}

// Every (backbone, fold) a command works on, with the dataset and the fold assignment.
using FoldWork = std::function<int(const config::BackboneConfig&, const BackboneText&, int64_t fold,
                                   const Dataset&, const data::FoldAssignment&)>;

int for_each_selected_fold(const config::ResolvedRunConfig& resolved,
                           const TrainSelection& selection, Communicator& comm,
                           const FoldWork& work) {
  const config::RunConfig& run = resolved.config;
  if (run.backbones.empty()) throw_user_error("backbones: the run has no backbone to train");
  if (run.data.train_records.empty())
    throw_user_error("data.train_records: no training records given");
  bool known = selection.backbone.empty();
  for (const auto& b : run.backbones) known = known || b.name == selection.backbone;
  if (!known)
    throw_user_error("--backbone {}: no backbone of that name in the config", selection.backbone);
  if (selection.fold && (*selection.fold < 0 || *selection.fold >= run.folds.k))
    throw_user_error("--fold {}: folds.k is {}", *selection.fold, run.folds.k);

  const Dataset dataset = read_dataset(run.data);
  fs::create_directories(run.output.run_dir);
  // Rank 0 makes (or checks) RUN/folds.json; the others then read the same file.
  data::FoldAssignment folds;
  if (comm.rank() == 0)
    folds = data::load_or_make_folds(run.output.run_dir, dataset.train, run.folds.k,
                                     static_cast<uint64_t>(run.folds.seed));
  comm.barrier();
  if (comm.rank() != 0)
    folds = data::load_or_make_folds(run.output.run_dir, dataset.train, run.folds.k,
                                     static_cast<uint64_t>(run.folds.seed));

  std::vector<int64_t> fold_list = run.folds.only;
  if (fold_list.empty())
    for (int64_t k = 0; k < run.folds.k; ++k) fold_list.push_back(k);
  // Every selected backbone's tokenizer, label sets and pseudo-label values are checked before the
  // first fold trains: a label that is not one token fails at start-up, not hours later.
  std::vector<std::pair<const config::BackboneConfig*, BackboneText>> selected;
  for (const auto& b : run.backbones) {
    if (!selection.backbone.empty() && b.name != selection.backbone) continue;
    selected.emplace_back(&b, load_text(b, run));
    check_pseudo_label_values(dataset, b, selected.back().second.overall_labels);
  }
  for (const auto& [b, text] : selected) {
    for (int64_t fold : fold_list) {
      if (selection.fold && fold != *selection.fold) continue;
      const int code = work(*b, text, fold, dataset, folds);
      if (code != kExitOk) return code;
    }
  }
  return kExitOk;
}

// The model `predict` uses for one fold when train exported none (a run stopped before the fold
// finished): the base model with the fold's newest complete checkpoint loaded into its trainable
// parameters, LoRA merged as an export would be. nullptr when there is no complete checkpoint.
std::shared_ptr<models::Backbone> model_from_checkpoint(const config::ResolvedRunConfig& resolved,
                                                        const config::BackboneConfig& b,
                                                        int64_t fold, Communicator& comm) {
  const std::string directory =
      fmt::format("{}/checkpoints/{}/fold{}", resolved.config.output.run_dir, b.name, fold);
  const CheckpointStore store(directory, resolved.config.output.keep_checkpoints);
  const auto folder = store.find_latest(comm);
  if (!folder) return nullptr;
  const CheckpointContents loaded = CheckpointStore::load(*folder, comm.rank(), comm.world_size());
  if (loaded.state.config_hash != resolved.hash)
    log::warn("{}: written by run config {}, predicting with {} (data or questions may differ)",
              *folder, loaded.state.config_hash.substr(0, 12), resolved.hash.substr(0, 12));
  std::shared_ptr<models::Backbone> model = load_for_training(resolved.config, b);
  load_parameters(trainable_parameters(*model), loaded.weights, *folder + "/model.safetensors");
  if (b.finetune == "lora") models::merge_lora(*model);
  log::info("{}/fold{}: no exported model; predicting from checkpoint {} (step {})", b.name, fold,
            *folder, loaded.state.optimizer_steps);
  return model;
}

// `predict` for one fold: the exported fold model (or the newest complete checkpoint when train
// exported none), the run's data and questions.
int predict_fold_from_export(const config::ResolvedRunConfig& resolved,
                             const config::BackboneConfig& b, int64_t fold, const Dataset& dataset,
                             const data::FoldAssignment& folds, const BackboneText& text,
                             const TrainSelection& selection, Communicator& comm) {
  const config::RunConfig& run = resolved.config;
  const std::string dir = scoring::scorer_folder_path(run.output.run_dir, b.name, fold);
  std::shared_ptr<models::Backbone> model;
  std::unique_ptr<data::ImageProcessor> processor;
  std::string source = dir;
  // Every rank must take the same branch: rank 0 looks, the others follow.
  if (comm.any(comm.rank() == 0 && fs::exists(dir))) {
    scoring::ScorerFolder scorer = scoring::load_scorer_folder(dir);
    if (scorer.config.run_config_hash != resolved.hash)
      log::warn("{}: trained with run config {}, predicting with {} (data or questions may differ)",
                dir, scorer.config.run_config_hash.substr(0, 12), resolved.hash.substr(0, 12));
    model = scorer.model;
    processor = std::move(scorer.processor);
  } else {
    model = model_from_checkpoint(resolved, b, fold, comm);
    if (!model)
      throw_user_error(
          "{}/fold{}: nothing to predict from: no exported model {} and no complete checkpoint in "
          "{}/checkpoints/{}/fold{} (train this fold first)",
          b.name, fold, dir, run.output.run_dir, b.name, fold);
    processor = scoring::make_image_processor_for(b.model_dir, b.image);
    source = "its newest checkpoint";
  }
  if (!comm.device().is_cpu()) model->to(comm.device());
  const data::BatchBuilderOptions options = builder_options(run, b, *model);
  const data::BatchBuilder train_builder(dataset.train, *processor, text.tokenizer,
                                         text.overall_labels, text.element_labels, options);
  const data::BatchBuilder test_builder(dataset.test, *processor, text.tokenizer,
                                        text.overall_labels, text.element_labels, options);
  const std::vector<int64_t> validation = folds.validation_indices(fold);
  data::FoldPredictions predictions =
      predict_fold(*model, train_builder, test_builder, dataset, validation, fold, text,
                   predictor_options(run), comm);
  if (comm.rank() == 0) {
    write_fold_store(resolved, b, dataset, validation, text, selection, std::nullopt, predictions);
    log::info("{}/fold{}: predicted from {}; out-of-fold SRCC {:.4f}; wrote {}", b.name, fold,
              source, predictions.metrics["srcc"],
              data::fold_predictions_path(run.output.run_dir, b.name, fold));
  }
  comm.barrier();
  return kExitOk;
}

}  // namespace

int train_run(const config::ResolvedRunConfig& resolved, const TrainSelection& selection,
              Communicator& comm) {
  return for_each_selected_fold(
      resolved, selection, comm,
      [&](const config::BackboneConfig& b, const BackboneText& text, int64_t fold,
          const Dataset& dataset, const data::FoldAssignment& folds) {
        return train_fold(resolved, b, fold, dataset, folds, text, selection, comm);
      });
}

int predict_run(const config::ResolvedRunConfig& resolved, const TrainSelection& selection,
                Communicator& comm) {
  return for_each_selected_fold(
      resolved, selection, comm,
      [&](const config::BackboneConfig& b, const BackboneText& text, int64_t fold,
          const Dataset& dataset, const data::FoldAssignment& folds) {
        return predict_fold_from_export(resolved, b, fold, dataset, folds, text, selection, comm);
      });
}

}  // namespace tokenfocus::trainer
