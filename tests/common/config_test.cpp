// The config mechanism: every error class names file:line (or --set) and the key path exactly.
#include <gtest/gtest.h>

#include "common/config/did_you_mean.h"
#include "common/config/run_config.h"
#include "common/error.h"

namespace tokenfocus::config {
namespace {

std::string error_of(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  try {
    resolve_text<RunConfig>(yaml, overrides, "run.yaml");
  } catch (const UserError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Config, DefaultsFillEverySection) {
  const auto resolved = resolve_text<RunConfig>("name: demo\n");
  EXPECT_EQ(resolved.config.name, "demo");
  EXPECT_DOUBLE_EQ(resolved.config.optim.lr, 1e-4);
  EXPECT_EQ(resolved.config.folds.k, 5);
  EXPECT_EQ(resolved.hash.size(), 64u);
}

TEST(Config, UnknownKeySuggestsTheClosest) {
  EXPECT_EQ(error_of("optim:\n  lrr: 0.1\n"),
            "run.yaml:2: unknown key 'optim.lrr' (did you mean 'optim.lr'?)");
}

TEST(Config, UnknownTopLevelKeyWithoutSuggestion) {
  EXPECT_EQ(error_of("name: a\nzzzzzzzz: 1\n"), "run.yaml:2: unknown key 'zzzzzzzz'");
}

TEST(Config, WrongTypeNamesKeyAndLine) {
  EXPECT_EQ(error_of("name: a\noptim:\n  lr: fast\n"),
            "run.yaml:3: optim.lr: expected a number, got 'fast'");
  EXPECT_EQ(error_of("folds:\n  k: 2.5\n"), "run.yaml:2: folds.k: expected an integer, got '2.5'");
  EXPECT_EQ(error_of("backbones: {a: 1}\n"), "run.yaml:1: backbones: expected a list, got a mapping");
  EXPECT_EQ(error_of("optim: [1]\n"), "run.yaml:1: optim: expected a mapping, got a list");
  EXPECT_EQ(error_of("backbones:\n  - name: a\n    model_dir: m\n    freeze_vision: maybe\n"),
            "run.yaml:4: backbones.0.freeze_vision: expected true or false, got 'maybe'");
}

TEST(Config, MissingRequiredKey) {
  EXPECT_EQ(error_of("backbones:\n  - name: qwen\n"),
            "run.yaml:2: missing required key 'backbones.0.model_dir'");
}

TEST(Config, OutOfRange) {
  EXPECT_EQ(error_of("optim:\n  lr: -1\n"), "run.yaml:2: optim.lr: -1 is out of range (must be > 0)");
  EXPECT_EQ(error_of("loss:\n  regression: l3\n"),
            "run.yaml:2: loss.regression: 'l3' is not one of: mse, smooth_l1");
  EXPECT_EQ(error_of("optim:\n  schedule: cosin\n"),
            "run.yaml:2: optim.schedule: 'cosin' is not one of: cosine, linear, constant (did you "
            "mean 'cosine'?)");
  EXPECT_EQ(error_of("optim:\n  beta1: 1.5\n"),
            "run.yaml:2: optim.beta1: 1.5 is out of range (must be between 0 and 1)");
}

TEST(Config, CrossKeyRulesNameTheFile) {
  EXPECT_EQ(error_of("backbones:\n  - {name: a, model_dir: x}\n  - {name: a, model_dir: y}\n"),
            "run.yaml: backbones.1.name: 'a' is used by two backbones (names must be unique)");
  EXPECT_EQ(error_of("folds: {k: 3, only: [3]}\n"),
            "run.yaml: folds.only: fold 3 does not exist (folds.k = 3)");
}

TEST(Config, InvalidYamlNamesLine) {
  EXPECT_EQ(error_of("name: a\noptim: [\n"),
            "run.yaml:3: invalid YAML: end of sequence flow not found");
}

TEST(Config, OverridesAreTypedAndValidated) {
  const auto resolved = resolve_text<RunConfig>(
      "backbones:\n  - {name: a, model_dir: x}\n",
      {"optim.lr=3e-5", "folds.only=[0, 2]", "backbones.0.lora.rank=4",
       "backbones.0.lora.target_modules=[q_proj]", "sweep.parameters={optim.lr: {values: [1, 2]}}"});
  EXPECT_DOUBLE_EQ(resolved.config.optim.lr, 3e-5);
  EXPECT_EQ(resolved.config.folds.only, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(resolved.config.backbones[0].lora.rank, 4);
  EXPECT_EQ(resolved.config.backbones[0].lora.target_modules, std::vector<std::string>{"q_proj"});
  EXPECT_EQ(resolved.config.sweep.parameters.at("optim.lr").values,
            (std::vector<std::string>{"1", "2"}));
}

TEST(Config, OverrideErrorsNameTheOverride) {
  EXPECT_EQ(error_of("name: a\n", {"optim.lr=abc"}),
            "--set optim.lr=abc: optim.lr: expected a number, got 'abc'");
  EXPECT_EQ(error_of("name: a\n", {"optim.lrr=1"}),
            "--set optim.lrr=1: unknown key 'optim.lrr' (did you mean 'optim.lr'?)");
  EXPECT_EQ(error_of("name: a\n", {"optim.lr"}),
            "--set optim.lr: expected KEY=VALUE (for example optim.lr=1e-4)");
  EXPECT_EQ(error_of("backbones: []\n", {"backbones.2.name=x"}),
            "--set backbones.2.name=x: index 2 is beyond the list 'backbones' of 0 items");
}

TEST(Config, CanonicalFormAndHashAreStable) {
  // Same values written differently give the same canonical text and hash.
  const auto a = resolve_text<RunConfig>("optim: {lr: 0.0001, epochs: 2}\nname: x\n");
  const auto b = resolve_text<RunConfig>("name: x\noptim:\n  epochs: 2\n  lr: 1.0e-4\n");
  EXPECT_EQ(a.canonical_yaml, b.canonical_yaml);
  EXPECT_EQ(a.hash, b.hash);
  const auto c = resolve_text<RunConfig>("name: x\n", {"optim.epochs=3"});
  EXPECT_NE(a.hash, c.hash);
  // The canonical text reads back to the same config.
  const auto again = resolve_text<RunConfig>(a.canonical_yaml);
  EXPECT_EQ(again.canonical_yaml, a.canonical_yaml);
  EXPECT_NE(a.canonical_yaml.find("lr: 0.0001\n"), std::string::npos);
}

TEST(Config, EditDistance) {
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(closest_key("lrr", {"lr", "eps", "epochs"}), "lr");
  EXPECT_EQ(closest_key("completely_different", {"lr", "eps"}), "");
}

}  // namespace
}  // namespace tokenfocus::config
