// The human side of an ensemble run: a console leaderboard, and RUN/report/ with report.md and
// SVG charts (predicted vs MOS per model, per-category element accuracy, methods compared).
#pragma once

#include <string>

#include "ensemble/model_inputs.h"
#include "ensemble/pipeline.h"

namespace tokenfocus::ensemble {

// Fixed-width table: every method with SRCC, PLCC, acc and final and their bootstrap intervals.
std::string format_leaderboard(const EnsembleResult& result);

// Charts, one SVG each.
std::string scatter_svg(const std::string& title, const std::vector<double>& mos,
                        const std::vector<double>& predicted, PlccDirection direction);
std::string category_accuracy_svg(const EnsembleResult& result);
std::string methods_svg(const EnsembleResult& result);

// Writes DIR/report.md and DIR/*.svg (each file to a temporary name, then renamed).
void write_report(const std::string& directory, const EnsembleInputs& inputs,
                  const EnsembleResult& result, const std::string& config_hash);

}  // namespace tokenfocus::ensemble
