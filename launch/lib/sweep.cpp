#include "launch/lib/sweep.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <random>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/config/yaml_reader.h"
#include "common/error.h"
#include "common/sha256.h"

namespace tokenfocus::launch {
namespace {

using config::SweepParameterConfig;

// std::mt19937_64's output sequence is fixed by the standard; the distributions are not, so the
// conversion to [0, 1) is ours.
double uniform01(std::mt19937_64& engine) {
  return static_cast<double>(engine() >> 11) * 0x1.0p-53;
}

std::string draw(const std::string& key, const SweepParameterConfig& p, std::mt19937_64& engine) {
  if (!p.values.empty()) {
    const size_t index = static_cast<size_t>(uniform01(engine) * p.values.size());
    return p.values[std::min(index, p.values.size() - 1)];
  }
  const double u = uniform01(engine);
  if (p.distribution == "uniform") return config::format_number(p.min + u * (p.max - p.min));
  if (p.distribution == "log_uniform") {
    if (p.min <= 0 || p.max <= 0)
      throw_user_error("sweep.parameters.{}: log_uniform needs min > 0 and max > 0", key);
    return config::format_number(
        std::exp(std::log(p.min) + u * (std::log(p.max) - std::log(p.min))));
  }
  if (p.distribution == "int_uniform") {
    const double lo = std::ceil(p.min), hi = std::floor(p.max);
    return fmt::format("{}",
                       static_cast<int64_t>(std::min(hi, lo + std::floor(u * (hi - lo + 1)))));
  }
  throw_user_error("sweep.parameters.{}: give 'values' or a 'distribution' with min and max", key);
}

void check_parameters(const config::SweepConfig& sweep) {
  if (sweep.method == "variants") {
    if (sweep.variants.empty())
      throw_user_error("sweep.variants: a variants sweep needs at least one variant");
    if (!sweep.parameters.empty())
      throw_user_error(
          "sweep.parameters: a variants sweep takes its overrides from sweep.variants");
    std::set<std::string> names;
    for (size_t i = 0; i < sweep.variants.size(); ++i) {
      const std::string& name = sweep.variants[i].name;
      const bool safe = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
      });
      if (!safe)
        throw_user_error(
            "sweep.variants.{}.name: '{}' must be letters, digits, '-' or '_' (it "
            "names the trial's folder)",
            i, name);
      if (!names.insert(name).second)
        throw_user_error("sweep.variants.{}.name: '{}' is used twice", i, name);
    }
    return;
  }
  if (!sweep.variants.empty())
    throw_user_error("sweep.variants: only a sweep with method: variants takes variants");
  if (sweep.parameters.empty())
    throw_user_error("sweep.parameters: the config has no sweep parameters to expand");
  for (const auto& [key, p] : sweep.parameters) {
    if (sweep.method == "grid" && p.values.empty())
      throw_user_error("sweep.parameters.{}: a grid sweep needs a list of 'values'", key);
    if (!p.distribution.empty() && p.min > p.max)
      throw_user_error("sweep.parameters.{}: min ({}) is greater than max ({})", key,
                       config::format_number(p.min), config::format_number(p.max));
  }
  if (sweep.method == "random" && sweep.trials <= 0)
    throw_user_error("sweep.trials: a random sweep needs trials > 0");
}

std::vector<std::vector<std::string>> grid_assignments(const config::SweepConfig& sweep) {
  std::vector<std::vector<std::string>> trials{{}};
  for (const auto& [key, p] : sweep.parameters) {  // std::map: parameters in key order
    std::vector<std::vector<std::string>> next;
    for (const auto& partial : trials)
      for (const std::string& value : p.values) {
        auto extended = partial;
        extended.push_back(key + "=" + value);
        next.push_back(std::move(extended));
      }
    trials = std::move(next);
  }
  return trials;
}

std::vector<std::vector<std::string>> random_assignments(const config::SweepConfig& sweep) {
  std::mt19937_64 engine(static_cast<uint64_t>(sweep.seed));
  std::vector<std::vector<std::string>> trials;
  for (int64_t t = 0; t < sweep.trials; ++t) {
    std::vector<std::string> assignment;
    for (const auto& [key, p] : sweep.parameters)
      assignment.push_back(key + "=" + draw(key, p, engine));
    trials.push_back(std::move(assignment));
  }
  return trials;
}

}  // namespace

std::vector<Trial> expand_sweep(const std::string& base_config_path,
                                const std::vector<std::string>& base_overrides,
                                const std::string& sweep_dir) {
  const auto base = config::load_run_config(base_config_path, base_overrides);
  const config::SweepConfig& sweep = base.config.sweep;
  check_parameters(sweep);
  std::vector<std::vector<std::string>> assignments;
  if (sweep.method == "grid") assignments = grid_assignments(sweep);
  if (sweep.method == "random") assignments = random_assignments(sweep);
  for (const auto& variant : sweep.variants) assignments.push_back(variant.set);

  std::vector<Trial> trials;
  for (size_t i = 0; i < assignments.size(); ++i) {
    Trial trial;
    trial.overrides = assignments[i];
    // Variants are named by the user; grid and random trials by a hash of what they change.
    const std::string suffix =
        sweep.method == "variants"
            ? sweep.variants[i].name
            : sha256_hex(fmt::format("{}", fmt::join(trial.overrides, "\n"))).substr(0, 8);
    trial.name = fmt::format("t{:03d}-{}", i, suffix);
    trial.config_hash =
        config::load_run_config(base_config_path, trial_overrides(trial, base_overrides, sweep_dir))
            .hash;
    trials.push_back(std::move(trial));
  }
  return trials;
}

std::vector<std::string> trial_overrides(const Trial& trial,
                                         const std::vector<std::string>& base_overrides,
                                         const std::string& sweep_dir) {
  std::vector<std::string> all = base_overrides;
  all.insert(all.end(), trial.overrides.begin(), trial.overrides.end());
  all.push_back("sweep={}");
  all.push_back(fmt::format("output.run_dir={}/{}", sweep_dir, trial.name));
  return all;
}

}  // namespace tokenfocus::launch
