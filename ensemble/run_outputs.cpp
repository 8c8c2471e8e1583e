#include "ensemble/run_outputs.h"

#include <cmath>
#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/log.h"
#include "data/prediction_store.h"
#include "data/records.h"
#include "ensemble/model_inputs.h"
#include "ensemble/report.h"
#include "ensemble/submission.h"

namespace tokenfocus::ensemble {
namespace {

nlohmann::ordered_json interval_json(const Interval& i) {
  auto number = [](double v) {
    return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json();
  };
  return {{"value", number(i.point)}, {"low", number(i.low)}, {"high", number(i.high)}};
}

std::string file_stem(const std::string& name) {
  std::string out;
  for (char c : name) out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' ? c : '_';
  return out;
}

}  // namespace

EnsembleRunPaths ensemble_run_paths(const std::string& run_dir) {
  return {run_dir, run_dir + "/submission", run_dir + "/report", run_dir + "/summary.json"};
}

std::string evaluation_rows_json(const EvaluationSet& set, const std::vector<double>& scores,
                                 const std::vector<double>& elements) {
  std::vector<data::Record> records(set.size());
  for (size_t i = 0; i < set.size(); ++i) {
    records[i].prompt = set.prompts[i];
    records[i].img_path = set.keys[i];
    for (size_t e = set.element_offsets[i]; e < set.element_offsets[i + 1]; ++e) {
      data::Element element;
      element.key = set.element_keys[e];
      records[i].elements.push_back(element);
    }
  }
  return submission_json(records, scores, elements);
}

EnsembleResult run_ensemble_stage(const config::ResolvedRunConfig& resolved,
                                  const std::string& run_dir) {
  const auto& cfg = resolved.config;
  const auto paths = ensemble_run_paths(run_dir);
  const auto stores = data::read_run_stores(run_dir);
  if (cfg.data.train_records.empty()) {
    throw_user_error(
        "data.train_records is empty: the ensemble needs the training ground truth "
        "to score out-of-fold predictions");
  }
  const auto train = data::read_records(cfg.data.train_records);
  std::vector<data::Record> test;
  if (!cfg.data.test_records.empty()) test = data::read_records(cfg.data.test_records);
  log::info("ensemble: {} backbones from {}/predictions, {} training and {} test records",
            stores.size(), run_dir, train.size(), test.size());
  const auto inputs = build_ensemble_inputs(stores, train, test, cfg.ensemble.allow_mixed_configs);
  const auto result = run_ensemble(inputs, cfg.ensemble);
  const auto& chosen = result.methods[result.selected];

  std::fputs(format_leaderboard(result).c_str(), stdout);
  std::fflush(stdout);

  const bool can_submit = !test.empty() && inputs.has_elements;
  if (!test.empty() && !inputs.has_elements)
    log::warn(
        "ensemble: no NTIRE submission: no backbone predicted element probabilities "
        "(prompt.element_questions: false), and output.json needs them; the overall score was "
        "bagged, stacked, blended and reported");
  if (can_submit) {
    const std::string description = fmt::format(
        "TokenFocus-VQA style ensemble (tokenfocus): {} fine-tuned LVLM backbones ({}), {}-fold "
        "bagging; submitted method: {} ({})",
        inputs.models.size(),
        [&] {
          std::string names;
          for (const auto& m : inputs.models) names += (names.empty() ? "" : ", ") + m.name;
          return names;
        }(),
        inputs.models.front().num_folds, chosen.name, chosen.detail);
    write_submission(paths.submission_dir, test, chosen.test_score, chosen.test_element,
                     cfg.ensemble.readme, description);
    log::info("ensemble: wrote {}/output.json ({} records) and readme.txt", paths.submission_dir,
              test.size());
  } else if (test.empty()) {
    log::warn("ensemble: data.test_records is empty: no submission written");
  }

  // Re-checkable evaluation files and the report.
  write_file_atomically(
      paths.report_dir + "/evaluation_ground_truth.json",
      evaluation_rows_json(result.evaluation, result.evaluation.score, result.evaluation.element));
  nlohmann::ordered_json methods = nlohmann::ordered_json::array();
  for (const auto& m : result.methods) {
    std::string prediction_file;
    if (m.kind != "fold") {
      prediction_file = "report/predictions/" + file_stem(m.name) + ".json";
      write_file_atomically(
          run_dir + "/" + prediction_file,
          evaluation_rows_json(result.evaluation, m.evaluation.score, m.evaluation.element));
    }
    methods.push_back(
        {{"name", m.name},
         {"kind", m.kind},
         {"detail", m.detail},
         {"holdout_final", std::isfinite(m.holdout_final) ? nlohmann::ordered_json(m.holdout_final)
                                                          : nlohmann::ordered_json()},
         {"rows", m.rows},
         {"srcc", interval_json(m.metrics.srcc)},
         {"plcc", interval_json(m.metrics.plcc)},
         {"krcc", interval_json(m.metrics.krcc)},
         {"rmse", interval_json(m.metrics.rmse)},
         {"acc", interval_json(m.metrics.acc)},
         {"final", interval_json(m.metrics.final)},
         {"evaluation_predictions", prediction_file}});
  }
  write_report(paths.report_dir, inputs, result, resolved.hash);

  auto weights_json = [](const Weights& w) {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (size_t i = 0; i < w.names.size(); ++i) out[w.names[i]] = w.values[i];
    return out;
  };
  nlohmann::ordered_json summary = {
      {"config_hash", resolved.hash},
      {"stores_config_hash", inputs.config_hash},
      {"plcc_direction", to_string(result.direction)},
      {"bootstrap_samples", cfg.ensemble.bootstrap_samples},
      {"confidence", cfg.ensemble.confidence},
      {"oof_rows", inputs.truth.size()},
      {"holdout_rows", result.holdout_rows},
      {"evaluation_rows", result.evaluation.size()},
      {"evaluation_ground_truth", "report/evaluation_ground_truth.json"},
      {"score_blend_weights", weights_json(result.score_blend)},
      {"element_blend_weights", weights_json(result.element_blend)},
      {"submitted", chosen.name},
      {"selection",
       {{"chosen_on", "holdout"},
        {"chosen_by",
         result.selection_metric + " on the holdout rows, out of sample (blend cross-fitted)"},
        {"holdout_rows", result.holdout_rows},
        {"holdout_final", chosen.holdout_final},
        {"reported_on", "evaluation"},
        {"evaluation_rows", result.evaluation.size()}}},
      // The submitted method's point estimates: what `tokenfocus sweep --collect` ranks trials by.
      {"best",
       {{"name", chosen.name},
        {"kind", chosen.kind},
        {"srcc", interval_json(chosen.metrics.srcc)["value"]},
        {"plcc", interval_json(chosen.metrics.plcc)["value"]},
        {"acc", interval_json(chosen.metrics.acc)["value"]},
        {"final", interval_json(chosen.metrics.final)["value"]}}},
      {"submission", can_submit ? "submission/output.json" : ""},
      {"has_element_predictions", inputs.has_elements},
      {"methods", methods}};
  write_file_atomically(paths.summary_path, summary.dump(2) + "\n");
  log::info("ensemble: wrote {} and {}/report.md", paths.summary_path, paths.report_dir);
  return result;
}

}  // namespace tokenfocus::ensemble
