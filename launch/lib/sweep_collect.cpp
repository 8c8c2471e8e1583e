#include "launch/lib/sweep_collect.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/log.h"
#include "ensemble/run_comparison.h"

namespace tokenfocus::launch {
namespace {

namespace fs = std::filesystem;

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw_user_error("{}: cannot open", path.string());
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw_user_error("{}: invalid JSON: {}", path.string(), e.what());
  }
}

std::optional<double> number_at(const nlohmann::json& object, const char* key) {
  if (!object.contains(key) || !object[key].is_number()) return std::nullopt;
  return object[key].get<double>();
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// The baseline is the first trial (in sweep order) that changes nothing.
void add_paired_differences(const std::string& sweep_dir, std::vector<TrialResult>& results) {
  const TrialResult* baseline = nullptr;
  for (const auto& r : results)
    if (r.overrides.empty() && r.final_score && (!baseline || r.trial < baseline->trial))
      baseline = &r;
  if (!baseline) return;
  const auto base =
      ensemble::read_submitted_predictions((fs::path(sweep_dir) / baseline->trial).string());
  ensemble::BootstrapOptions options;
  options.samples = kPairedBootstrapSamples;
  for (auto& r : results) {
    if (&r == baseline || !r.final_score) continue;
    const auto other =
        ensemble::read_submitted_predictions((fs::path(sweep_dir) / r.trial).string());
    try {
      const auto d = ensemble::compare_runs(base, other, options);
      r.final_vs_baseline = d.final;
      r.srcc_vs_baseline = d.srcc;
    } catch (const UserError& e) {
      log::warn("sweep --collect: {} not compared with {}: {}", r.trial, baseline->trial, e.what());
    }
  }
}

}  // namespace

bool trial_finished(const std::string& trial_dir) {
  return fs::exists(fs::path(trial_dir) / "summary.json");
}

std::vector<TrialResult> collect_sweep(const std::string& sweep_dir) {
  if (!fs::is_directory(sweep_dir)) throw_user_error("{}: not a sweep folder", sweep_dir);
  std::vector<TrialResult> results;
  for (const auto& entry : fs::directory_iterator(sweep_dir)) {
    const fs::path trial_json = entry.path() / "trial.json";
    if (!entry.is_directory() || !fs::exists(trial_json)) continue;
    TrialResult r;
    r.trial = entry.path().filename().string();
    const auto trial = read_json(trial_json);
    if (trial.contains("overrides"))
      r.overrides = trial["overrides"].get<std::vector<std::string>>();
    if (trial_finished(entry.path().string())) {
      const fs::path summary_path = entry.path() / "summary.json";
      const auto summary = read_json(summary_path);
      if (!summary.contains("best") || !summary["best"].is_object())
        throw_user_error("{}: no 'best' entry (written by `tokenfocus ensemble`)",
                         summary_path.string());
      const auto& best = summary["best"];
      r.best_method = best.value("name", "");
      r.srcc = number_at(best, "srcc");
      r.plcc = number_at(best, "plcc");
      r.acc = number_at(best, "acc");
      r.final_score = number_at(best, "final");
      if (summary.contains("evaluation_rows") && summary["evaluation_rows"].is_number_integer())
        r.evaluation_rows = summary["evaluation_rows"].get<int64_t>();
      // The submitted method's intervals are in its entry of the methods list.
      for (const auto& m : summary.value("methods", nlohmann::json::array())) {
        if (!m.is_object() || m.value("name", "") != r.best_method) continue;
        auto interval = [&](const char* key) {
          MetricInterval i;
          if (m.contains(key) && m[key].is_object())
            i.low = number_at(m[key], "low"), i.high = number_at(m[key], "high");
          return i;
        };
        r.srcc_interval = interval("srcc");
        r.plcc_interval = interval("plcc");
        r.acc_interval = interval("acc");
        r.final_interval = interval("final");
      }
    }
    results.push_back(std::move(r));
  }
  add_paired_differences(sweep_dir, results);
  std::sort(results.begin(), results.end(), [](const TrialResult& a, const TrialResult& b) {
    if (a.final_score.has_value() != b.final_score.has_value()) return a.final_score.has_value();
    if (a.final_score && *a.final_score != *b.final_score) return *a.final_score > *b.final_score;
    return a.trial < b.trial;
  });
  return results;
}

std::string sweep_csv(const std::vector<TrialResult>& results) {
  auto number = [](const std::optional<double>& v) {
    return v ? fmt::format("{:.6f}", *v) : std::string();
  };
  std::string csv =
      "trial,overrides,best,srcc,plcc,acc,final,srcc_low,srcc_high,plcc_low,plcc_high,acc_low,"
      "acc_high,final_low,final_high,evaluation_rows,final_vs_baseline,final_vs_baseline_low,"
      "final_vs_baseline_high\n";
  for (const TrialResult& r : results) {
    std::string overrides;
    for (const auto& o : r.overrides) overrides += (overrides.empty() ? "" : " ") + o;
    const auto& d = r.final_vs_baseline;
    auto part = [&](double ensemble::Interval::*field) {
      return d ? number((*d).*field) : std::string();
    };
    csv += fmt::format(
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", csv_field(r.trial),
        csv_field(overrides), csv_field(r.best_method), number(r.srcc), number(r.plcc),
        number(r.acc), number(r.final_score), number(r.srcc_interval.low),
        number(r.srcc_interval.high), number(r.plcc_interval.low), number(r.plcc_interval.high),
        number(r.acc_interval.low), number(r.acc_interval.high), number(r.final_interval.low),
        number(r.final_interval.high), r.evaluation_rows, part(&ensemble::Interval::point),
        part(&ensemble::Interval::low), part(&ensemble::Interval::high));
  }
  return csv;
}

std::string sweep_markdown(std::vector<TrialResult> results) {
  // Sweep order (t000, t001, ...): an ablation reads as the baseline and then each change.
  std::sort(results.begin(), results.end(),
            [](const TrialResult& a, const TrialResult& b) { return a.trial < b.trial; });
  auto cell = [](const std::optional<double>& v, const MetricInterval& i) {
    if (!v) return std::string("n/a");
    if (!i.low || !i.high) return fmt::format("{:.3f}", *v);
    return fmt::format("{:.3f} [{:.3f}, {:.3f}]", *v, *i.low, *i.high);
  };
  auto difference = [](const std::optional<ensemble::Interval>& d) {
    if (!d) return std::string("");
    const bool supported = d->low > 0 || d->high < 0;  // the interval excludes 0
    return fmt::format("{}{:+.3f} [{:+.3f}, {:+.3f}]{}", supported ? "**" : "", d->point, d->low,
                       d->high, supported ? "**" : "");
  };
  std::string md =
      "| trial | changes | submitted | final | Δ final vs baseline | Δ SRCC vs baseline | SRCC | "
      "PLCC | acc |\n"
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
  for (const TrialResult& r : results) {
    std::string overrides;
    for (const auto& o : r.overrides)
      overrides += (overrides.empty() ? "" : "<br>") + ("`" + o + "`");
    if (overrides.empty()) overrides = "(baseline)";
    md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", r.trial, overrides,
                      r.best_method.empty() ? "(not finished)" : r.best_method,
                      cell(r.final_score, r.final_interval), difference(r.final_vs_baseline),
                      difference(r.srcc_vs_baseline), cell(r.srcc, r.srcc_interval),
                      cell(r.plcc, r.plcc_interval), cell(r.acc, r.acc_interval));
  }
  return md;
}

}  // namespace tokenfocus::launch
