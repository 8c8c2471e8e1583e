// Sweep expansion (grid and seeded random), stable names and hashes, collection of results.
#include <fstream>

#include <gtest/gtest.h>

#include "common/error.h"
#include "launch/lib/sweep.h"
#include "launch/lib/sweep_collect.h"
#include "temp_dir.h"

namespace tokenfocus::launch {
namespace {

std::string write(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.str() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

const char* kGrid = R"(name: s
sweep:
  method: grid
  parameters:
    optim.lr: {values: ["1e-4", "3e-4"]}
    loss.ps_weight: {values: ["0", "0.5", "1"]}
)";

TEST(Sweep, GridIsTheCartesianProductInKeyOrder) {
  TempDir dir("sweep-grid");
  const auto trials = expand_sweep(write(dir, "c.yaml", kGrid), {}, dir.str() + "/out");
  ASSERT_EQ(trials.size(), 6u);
  EXPECT_EQ(trials[0].overrides, (std::vector<std::string>{"loss.ps_weight=0", "optim.lr=1e-4"}));
  EXPECT_EQ(trials[5].overrides, (std::vector<std::string>{"loss.ps_weight=1", "optim.lr=3e-4"}));
  EXPECT_EQ(trials[0].name.substr(0, 5), "t000-");
  std::set<std::string> hashes;
  for (const auto& t : trials) hashes.insert(t.config_hash);
  EXPECT_EQ(hashes.size(), 6u);
}

TEST(Sweep, NamesAndHashesAreStable) {
  TempDir dir("sweep-stable");
  const std::string path = write(dir, "c.yaml", kGrid);
  const auto a = expand_sweep(path, {}, "out");
  const auto b = expand_sweep(path, {}, "out");
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, b[i].name);
    EXPECT_EQ(a[i].config_hash, b[i].config_hash);
  }
  // The trial's config has its own run folder and no sweep section left.
  const auto resolved = config::load_run_config(path, trial_overrides(a[1], {}, "out"));
  EXPECT_EQ(resolved.config.output.run_dir, "out/" + a[1].name);
  EXPECT_TRUE(resolved.config.sweep.parameters.empty());
  EXPECT_DOUBLE_EQ(resolved.config.loss.ps_weight, 0.0);
  EXPECT_DOUBLE_EQ(resolved.config.optim.lr, 3e-4);
}

TEST(Sweep, RandomIsSeededAndWithinBounds) {
  TempDir dir("sweep-random");
  const std::string path = write(dir, "c.yaml", R"(sweep:
  method: random
  trials: 5
  seed: 7
  parameters:
    optim.lr: {distribution: log_uniform, min: 1.0e-5, max: 1.0e-3}
    backbones.0.lora.rank: {distribution: int_uniform, min: 4, max: 16}
    optim.schedule: {values: [cosine, linear]}
backbones:
  - {name: a, model_dir: m}
)");
  const auto a = expand_sweep(path, {}, "out");
  const auto b = expand_sweep(path, {}, "out");
  ASSERT_EQ(a.size(), 5u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].overrides, b[i].overrides);
    const auto c = config::load_run_config(path, trial_overrides(a[i], {}, "out"));
    EXPECT_GE(c.config.optim.lr, 1e-5);
    EXPECT_LE(c.config.optim.lr, 1e-3);
    EXPECT_GE(c.config.backbones[0].lora.rank, 4);
    EXPECT_LE(c.config.backbones[0].lora.rank, 16);
  }
  const auto other_seed = expand_sweep(path, {"sweep.seed=8"}, "out");
  EXPECT_NE(other_seed[0].overrides, a[0].overrides);
}

TEST(Sweep, BadParametersNameTheKey) {
  TempDir dir("sweep-bad");
  const std::string path =
      write(dir, "c.yaml", "sweep:\n  parameters:\n    optim.lrr: {values: [1]}\n");
  try {
    expand_sweep(path, {}, "out");
    FAIL() << "expected an error";
  } catch (const UserError& e) {
    EXPECT_STREQ(e.what(), "--set optim.lrr=1: unknown key 'optim.lrr' (did you mean 'optim.lr'?)");
  }
  const std::string empty = write(dir, "e.yaml", "name: x\n");
  EXPECT_THROW(expand_sweep(empty, {}, "out"), UserError);
  const std::string no_values =
      write(dir, "n.yaml",
            "sweep:\n  parameters:\n    optim.lr: {distribution: uniform, min: 0, max: 1}\n");
  try {
    expand_sweep(no_values, {}, "out");
    FAIL() << "expected an error";
  } catch (const UserError& e) {
    EXPECT_STREQ(e.what(), "sweep.parameters.optim.lr: a grid sweep needs a list of 'values'");
  }
}

TEST(SweepCollect, BestFirstThenUnfinished) {
  TempDir dir("sweep-collect");
  auto trial = [&](const std::string& name, const char* summary) {
    std::filesystem::create_directories(dir.path / name);
    std::ofstream(dir.path / name / "trial.json")
        << R"({"name": ")" << name << R"(", "overrides": ["optim.lr=1"]})";
    if (summary) std::ofstream(dir.path / name / "summary.json") << summary;
  };
  trial("t000-a",
        R"({"best": {"name": "ridge", "srcc": 0.7, "plcc": 0.72, "acc": 0.8, "final": 0.755}})");
  trial("t001-b", nullptr);
  trial("t002-c",
        R"({"best": {"name": "blend", "srcc": 0.8, "plcc": 0.82, "acc": 0.85, "final": 0.83},
            "evaluation_rows": 120,
            "methods": [{"name": "ridge", "final": {"value": 0.7, "low": 0.6, "high": 0.8}},
                        {"name": "blend", "srcc": {"value": 0.8, "low": 0.75, "high": 0.85},
                         "final": {"value": 0.83, "low": 0.79, "high": 0.87}}]})");
  const auto results = collect_sweep(dir.str());
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].trial, "t002-c");
  EXPECT_EQ(results[1].trial, "t000-a");
  EXPECT_EQ(results[2].trial, "t001-b");
  EXPECT_FALSE(results[2].final_score.has_value());
  const std::string csv = sweep_csv(results);
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "trial,overrides,best,srcc,plcc,acc,final,srcc_low,srcc_high,plcc_low,plcc_high,"
            "acc_low,acc_high,final_low,final_high,evaluation_rows,final_vs_baseline,"
            "final_vs_baseline_low,final_vs_baseline_high");
  EXPECT_NE(csv.find("t002-c,optim.lr=1,blend,0.800000,0.820000,0.850000,0.830000,0.750000,"
                     "0.850000,,,,,0.790000,0.870000,120,,,"),
            std::string::npos)
      << csv;
  // The Markdown table lists trials in sweep order, with the submitted method's intervals.
  const std::string md = sweep_markdown(results);
  EXPECT_LT(md.find("| t000-a |"), md.find("| t002-c |"));
  EXPECT_NE(md.find("| t002-c | `optim.lr=1` | blend | 0.830 [0.790, 0.870] |  |  | 0.800 [0.750, "
                    "0.850] | 0.820 | 0.850 |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| t001-b | `optim.lr=1` | (not finished) | n/a |"), std::string::npos) << md;
}

TEST(Sweep, VariantsAreOneTrialEachNamedByTheVariant) {
  TempDir dir("sweep-variants");
  const std::string path = write(dir, "c.yaml", R"(sweep:
  method: variants
  variants:
    - {name: baseline}
    - {name: no-ps, set: ["loss.ps_weight=0"]}
    - {name: flags, set: ["data.element_flags=[{flag: split_confidence, equals: 0, weight: 0.5}]",
                          "optim.lr=3e-4"]}
)");
  const auto trials = expand_sweep(path, {}, "out");
  ASSERT_EQ(trials.size(), 3u);
  EXPECT_EQ(trials[0].name, "t000-baseline");
  EXPECT_TRUE(trials[0].overrides.empty());
  EXPECT_EQ(trials[2].name, "t002-flags");
  const auto c = config::load_run_config(path, trial_overrides(trials[2], {}, "out"));
  ASSERT_EQ(c.config.data.element_flags.size(), 1u);
  EXPECT_EQ(c.config.data.element_flags[0].flag, "split_confidence");
  EXPECT_DOUBLE_EQ(c.config.data.element_flags[0].weight, 0.5);
  EXPECT_DOUBLE_EQ(c.config.optim.lr, 3e-4);
  // A bad override names the trial's change; a repeated or unsafe name is refused.
  const std::string bad = write(dir, "b.yaml", R"(sweep:
  method: variants
  variants: [{name: x, set: ["data.element_flags=[{flag: confidence}]"]}]
)");
  EXPECT_THROW(expand_sweep(bad, {}, "out"), UserError);
  const std::string twice = write(dir, "t.yaml", R"(sweep:
  method: variants
  variants: [{name: x}, {name: x}]
)");
  EXPECT_THROW(expand_sweep(twice, {}, "out"), UserError);
  const std::string unsafe = write(dir, "u.yaml", R"(sweep:
  method: variants
  variants: [{name: "../x"}]
)");
  EXPECT_THROW(expand_sweep(unsafe, {}, "out"), UserError);
}

}  // namespace
}  // namespace tokenfocus::launch
