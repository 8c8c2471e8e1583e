#include "ensemble/run_comparison.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "data/records.h"
#include "data/submission_reader.h"

namespace tokenfocus::ensemble {

namespace fs = std::filesystem;

SubmittedPredictions read_submitted_predictions(const std::string& run_dir) {
  const fs::path summary_path = fs::path(run_dir) / "summary.json";
  std::ifstream in(summary_path);
  if (!in)
    throw_user_error("{}: cannot open (run `tokenfocus ensemble` first)", summary_path.string());
  nlohmann::json summary;
  try {
    summary = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw_user_error("{}: invalid JSON: {}", summary_path.string(), e.what());
  }
  SubmittedPredictions out;
  out.method = summary.value("submitted", "");
  std::string predictions;
  for (const auto& m : summary.value("methods", nlohmann::json::array()))
    if (m.is_object() && m.value("name", "") == out.method)
      predictions = m.value("evaluation_predictions", "");
  if (out.method.empty() || predictions.empty())
    throw_user_error("{}: no evaluation predictions of the submitted method '{}'",
                     summary_path.string(), out.method);
  const std::string truth_path =
      (fs::path(run_dir) / summary.value("evaluation_ground_truth", "")).string();
  out.truth = evaluation_set_from_records(data::read_records(truth_path), truth_path);
  const std::string predictions_path = (fs::path(run_dir) / predictions).string();
  out.prediction =
      align_submission(out.truth, data::read_submission(predictions_path), predictions_path);
  return out;
}

MetricIntervals compare_runs(const SubmittedPredictions& baseline,
                             const SubmittedPredictions& other, const BootstrapOptions& options) {
  if (baseline.truth.keys != other.truth.keys ||
      baseline.truth.element_keys != other.truth.element_keys)
    throw_user_error(
        "the runs were evaluated on different rows ({} vs {} records): a paired comparison needs "
        "the same data, folds and ensemble seed",
        baseline.truth.size(), other.truth.size());
  return paired_differences(baseline.truth, baseline.prediction, other.prediction, options);
}

}  // namespace tokenfocus::ensemble
