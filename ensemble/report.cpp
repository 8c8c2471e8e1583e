#include "ensemble/report.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "common/atomic_file.h"
#include "ensemble/svg.h"

namespace tokenfocus::ensemble {
namespace {

std::string with_interval(const Interval& i) {
  if (std::isnan(i.point)) return "n/a";  // e.g. acc and final without element predictions
  if (std::isnan(i.low)) return fmt::format("{:.4f}", i.point);
  return fmt::format("{:.4f} [{:.3f},{:.3f}]", i.point, i.low, i.high);
}

std::string file_stem(const std::string& name) {
  std::string out;
  for (char c : name) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

// Per category: fraction of elements right (both sides binarised at 0.5).
std::map<std::string, double> accuracy_by_category(const EvaluationSet& truth,
                                                   const std::vector<double>& element) {
  std::map<std::string, std::pair<double, double>> counts;
  for (size_t e = 0; e < truth.element.size(); ++e) {
    auto& c = counts[truth.element_category[e].empty() ? "(none)" : truth.element_category[e]];
    c.first += (truth.element[e] >= 0.5) == (element[e] >= 0.5);
    c.second += 1;
  }
  std::map<std::string, double> out;
  for (const auto& [k, c] : counts) out[k] = c.first / c.second;
  return out;
}

}  // namespace

static std::string holdout_text(double value) {
  return std::isfinite(value) ? fmt::format("{:.4f}", value) : "";
}

std::string format_leaderboard(const EnsembleResult& result) {
  std::string out = fmt::format(
      "Chosen on {} holdout rows (out-of-sample {}, column 'holdout'); every other figure is "
      "on the {} evaluation rows, which took no part in fitting or choosing.\n",
      result.holdout_rows, result.selection_metric, result.evaluation.size());
  out += fmt::format("{:<28} {:>7}  {:>5}  {:<24} {:<24} {:<24} {:<24}\n", "method", "holdout",
                     "rows", "SRCC", "PLCC", "acc", "final");
  for (size_t i = 0; i < result.methods.size(); ++i) {
    const auto& m = result.methods[i];
    out += fmt::format("{:<28} {:>7}  {:>5}  {:<24} {:<24} {:<24} {:<24}{}\n",
                       (m.kind == "fold" ? "  " : "") + m.name, holdout_text(m.holdout_final),
                       m.rows, with_interval(m.metrics.srcc), with_interval(m.metrics.plcc),
                       with_interval(m.metrics.acc), with_interval(m.metrics.final),
                       i == result.selected ? "  <- submitted" : "");
  }
  return out;
}

std::string scatter_svg(const std::string& title, const std::vector<double>& mos,
                        const std::vector<double>& predicted, PlccDirection direction) {
  const double W = 460, H = 420, left = 60, right = 20, top = 46, bottom = 54;
  svg::Canvas c(W, H);
  const auto [pmin, pmax] = std::minmax_element(predicted.begin(), predicted.end());
  double xlo = std::min(1.0, *pmin), xhi = std::max(5.0, *pmax);
  const double ylo = 1.0, yhi = 5.0;
  auto px = [&](double v) { return left + (v - xlo) / (xhi - xlo) * (W - left - right); };
  auto py = [&](double v) { return H - bottom - (v - ylo) / (yhi - ylo) * (H - top - bottom); };
  for (double t : svg::nice_ticks(xlo, xhi, 6)) {
    c.line(px(t), top, px(t), H - bottom, "#eeeeee");
    c.text(px(t), H - bottom + 16, fmt::format("{:g}", t), 11, "middle", "#666");
  }
  for (double t : svg::nice_ticks(ylo, yhi, 4)) {
    c.line(left, py(t), W - right, py(t), "#eeeeee");
    c.text(left - 8, py(t) + 4, fmt::format("{:g}", t), 11, "end", "#666");
  }
  c.line(px(std::max(xlo, ylo)), py(std::max(xlo, ylo)), px(std::min(xhi, yhi)),
         py(std::min(xhi, yhi)), "#bbbbbb", 1, "4 4");
  const double alpha = std::clamp(40.0 / std::sqrt(static_cast<double>(mos.size()) + 1), 0.08, 0.7);
  for (size_t i = 0; i < mos.size(); ++i)
    c.circle(px(predicted[i]), py(mos[i]), 2.6, svg::palette(0), alpha);
  // The logistic the metric fitted, drawn in the plot's coordinates (prediction → MOS).
  LogisticFit fit;
  const double plcc = plcc_after_logistic(mos, predicted, direction, &fit);
  std::vector<double> xs, ys;
  for (int k = 0; k <= 80; ++k) {
    if (direction == PlccDirection::kConventional) {
      const double x = xlo + (xhi - xlo) * k / 80.0;
      const double y = logistic4(x, fit.params);
      if (y >= ylo && y <= yhi) xs.push_back(px(x)), ys.push_back(py(y));
    } else {  // official: the curve maps MOS → prediction
      const double y = ylo + (yhi - ylo) * k / 80.0;
      const double x = logistic4(y, fit.params);
      if (x >= xlo && x <= xhi) xs.push_back(px(x)), ys.push_back(py(y));
    }
  }
  if (xs.size() > 1) c.polyline(xs, ys, svg::palette(5), 2.5);
  c.text(left, 22, title, 15, "start", "#222", true);
  c.text(
      left, 38,
      fmt::format("SRCC {:.4f} · PLCC {:.4f} · n = {}", spearman(mos, predicted), plcc, mos.size()),
      11, "start", "#666");
  c.text((left + W - right) / 2, H - 14, "predicted score", 12, "middle", "#333");
  c.text(16, (top + H - bottom) / 2, "MOS (ground truth)", 12, "middle", "#333", false, -90);
  return c.str();
}

std::string category_accuracy_svg(const EnsembleResult& result) {
  std::vector<const MethodResult*> shown;
  for (const auto& m : result.methods)
    if (m.kind == "model" || m.kind == "blend") shown.push_back(&m);
  std::vector<std::map<std::string, double>> acc;
  std::vector<std::string> categories;
  for (const auto* m : shown)
    acc.push_back(accuracy_by_category(result.evaluation, m->evaluation.element));
  if (!acc.empty())
    for (const auto& [k, v] : acc.front()) categories.push_back(k);
  const double group = 18.0 * shown.size() + 14, left = 150, top = 60, right = 30;
  const double H = top + group * categories.size() + 40, W = 720;
  svg::Canvas c(W, H);
  c.text(20, 26, "Element accuracy by category", 15, "start", "#222", true);
  c.text(20, 44, "evaluation rows; both sides binarised at 0.5", 11, "start", "#666");
  auto px = [&](double v) { return left + v * (W - left - right); };
  for (double t : {0.0, 0.25, 0.5, 0.75, 1.0}) {
    c.line(px(t), top - 4, px(t), H - 34, "#eeeeee");
    c.text(px(t), H - 18, fmt::format("{:.0f}%", t * 100), 11, "middle", "#666");
  }
  for (size_t k = 0; k < categories.size(); ++k) {
    const double y0 = top + k * group;
    c.text(left - 10, y0 + group / 2 + 2, categories[k], 12, "end", "#333");
    for (size_t m = 0; m < shown.size(); ++m) {
      const double v = acc[m].count(categories[k]) ? acc[m].at(categories[k]) : 0.0;
      c.rect(px(0), y0 + 4 + 18.0 * m, px(v) - px(0), 14, svg::palette(m), 0.9,
             fmt::format("{} · {}: {:.1f}%", shown[m]->name, categories[k], v * 100));
      c.text(px(v) + 4, y0 + 15 + 18.0 * m, fmt::format("{:.1f}%", v * 100), 10, "start", "#555");
    }
  }
  for (size_t m = 0; m < shown.size(); ++m) {
    const double x = W - right - 150, y = 20 + 14.0 * m;
    c.rect(x, y - 9, 10, 10, svg::palette(m));
    c.text(x + 16, y, shown[m]->name, 11, "start", "#333");
  }
  return c.str();
}

std::string methods_svg(const EnsembleResult& result) {
  std::vector<const MethodResult*> shown;
  for (const auto& m : result.methods)
    if (m.kind != "fold") shown.push_back(&m);
  double lo = 1, hi = 0;
  for (const auto* m : shown) {
    for (double v : {m->metrics.final.point, m->metrics.final.low, m->metrics.final.high}) {
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
  }
  if (!(hi > lo)) lo = hi - 0.1;
  const double pad = (hi - lo) * 0.15;
  lo = std::max(0.0, lo - pad);
  hi = std::min(1.0, hi + pad);
  const double left = 170, right = 40, top = 60, row = 30, W = 720;
  const double H = top + row * shown.size() + 44;
  svg::Canvas c(W, H);
  c.text(20, 26, "Methods compared: challenge score", 15, "start", "#222", true);
  c.text(20, 44,
         fmt::format("final = SRCC/4 + PLCC/4 + acc/2 on {} evaluation rows; whiskers: bootstrap "
                     "interval",
                     result.evaluation.size()),
         11, "start", "#666");
  auto px = [&](double v) { return left + (v - lo) / (hi - lo) * (W - left - right); };
  for (double t : svg::nice_ticks(lo, hi, 6)) {
    c.line(px(t), top - 4, px(t), H - 34, "#eeeeee");
    c.text(px(t), H - 18, fmt::format("{:.3f}", t), 11, "middle", "#666");
  }
  for (size_t i = 0; i < shown.size(); ++i) {
    const auto& m = *shown[i];
    const double y = top + row * i + row / 2;
    const bool selected = &m == &result.methods[result.selected];
    const std::string colour = m.kind == "model"     ? svg::palette(0)
                               : m.kind == "stacker" ? svg::palette(2)
                                                     : svg::palette(5);
    c.text(left - 10, y + 4, m.name, 12, "end", selected ? "#000" : "#333", selected);
    c.rect(px(lo), y - 8, px(m.metrics.final.point) - px(lo), 16, colour, 0.85,
           fmt::format("{}: {:.4f}", m.name, m.metrics.final.point));
    if (std::isfinite(m.metrics.final.low)) {
      c.line(px(m.metrics.final.low), y, px(m.metrics.final.high), y, "#222", 1.5);
      c.line(px(m.metrics.final.low), y - 5, px(m.metrics.final.low), y + 5, "#222", 1.5);
      c.line(px(m.metrics.final.high), y - 5, px(m.metrics.final.high), y + 5, "#222", 1.5);
    }
    c.text(px(m.metrics.final.point) + 6, y - 9, fmt::format("{:.4f}", m.metrics.final.point), 10,
           "start", "#444");
  }
  return c.str();
}

void write_report(const std::string& directory, const EnsembleInputs& inputs,
                  const EnsembleResult& result, const std::string& config_hash) {
  std::string md = "# Ensemble report\n\n";
  md += fmt::format(
      "Config hash `{}`. {} backbones, label set [{}]. {} out-of-fold rows, split once: **{} "
      "holdout rows chose** the blend weights and the submitted method (by the out-of-sample "
      "{} there: the blend's is cross-fitted over two halves of the holdout); **{} "
      "evaluation rows report** every figure below and took no part in fitting or choosing, so "
      "the submitted method's figures are not the winner's optimism. PLCC direction: {}.\n\n",
      config_hash.substr(0, 16), inputs.models.size(), fmt::join(inputs.labels, ", "),
      inputs.truth.size(), result.holdout_rows, result.selection_metric, result.evaluation.size(),
      to_string(result.direction));
  if (!inputs.has_elements)
    md +=
        "No backbone predicted element probabilities (`prompt.element_questions: false`): element "
        "accuracy and the challenge's final score are not available (n/a), the submission is "
        "chosen by (SRCC + PLCC) / 2, and no NTIRE submission can be written.\n\n";
  md +=
      "## Leaderboard\n\nBootstrap percentile intervals in brackets. Fold rows score each fold "
      "model on its own held-out rows.\n\n";
  md +=
      "| method | kind | holdout (chose) | rows | SRCC | PLCC | KRCC | RMSE | acc | final |\n"
      "| --- | --- | ---: | ---: | --- | --- | --- | --- | --- | --- |\n";
  for (size_t i = 0; i < result.methods.size(); ++i) {
    const auto& m = result.methods[i];
    md += fmt::format("| {}{} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                      i == result.selected ? "**" + m.name + "** (submitted)" : m.name, "", m.kind,
                      holdout_text(m.holdout_final), m.rows, with_interval(m.metrics.srcc),
                      with_interval(m.metrics.plcc), with_interval(m.metrics.krcc),
                      with_interval(m.metrics.rmse), with_interval(m.metrics.acc),
                      with_interval(m.metrics.final));
  }
  md += "\n![methods](methods.svg)\n\n## How each method was built\n\n";
  for (const auto& m : result.methods)
    if (m.kind != "fold") md += fmt::format("- **{}**: {}\n", m.name, m.detail);
  md +=
      "\n## Predicted score against MOS\n\nThe curve is the 4-parameter logistic the PLCC metric "
      "fitted; the dashed line is y = x.\n\n";
  write_file_atomically(directory + "/methods.svg", methods_svg(result));
  for (const auto& m : result.methods) {
    if (m.kind == "fold") continue;
    const std::string file = "scatter_" + file_stem(m.name) + ".svg";
    write_file_atomically(
        directory + "/" + file,
        scatter_svg(m.name, result.evaluation.score, m.evaluation.score, result.direction));
    md += fmt::format("![{}]({})\n", m.name, file);
  }
  md += "\n## Element accuracy by category\n\n![categories](category_accuracy.svg)\n\n";
  write_file_atomically(directory + "/category_accuracy.svg", category_accuracy_svg(result));
  md +=
      "## Re-checking these numbers\n\n`predictions/<method>.json` holds each method's "
      "evaluation-row predictions in the submission layout and `evaluation_ground_truth.json` the "
      "matching ground truth (eval.json layout): `tokenfocus evaluate --pred "
      "predictions/blend.json --gt evaluation_ground_truth.json` (or the official evaluate.py) "
      "reproduces the point values above.\n";
  write_file_atomically(directory + "/report.md", md);
}

}  // namespace tokenfocus::ensemble
