// End to end: synthetic predictions stores with known structure (2 backbones × 3 folds, one
// clearly better than the other) written with data/prediction_store.h, ensembled by the real
// stage; then the submission is validated, the leaderboard is re-computed with `evaluate` from the
// files the stage wrote, and those files are scored by a Python transcription of the official
// evaluate.py (scipy), tolerance 1e-6 as in the metric parity test.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/config/run_config.h"
#include "common/error.h"
#include "common/python_reference.h"
#include "data/prediction_store.h"
#include "data/records.h"
#include "ensemble/evaluation_set.h"
#include "ensemble/model_inputs.h"
#include "ensemble/run_outputs.h"

namespace tokenfocus::ensemble {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kCategories{"object", "color", "counting", "spatial", "activity"};

struct World {
  fs::path dir;
  std::vector<data::Record> train, test;
};

// Records with annotator lists (training layout) and test records with empty lists.
World make_world(const std::string& name, size_t n_train, size_t n_test) {
  World w;
  w.dir = fs::temp_directory_path() / ("tokenfocus_e2e_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(w.dir);
  fs::create_directories(w.dir);
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int> score(1, 5), count(0, 4), category(0, 4);
  std::bernoulli_distribution coin(0.6);
  nlohmann::ordered_json train = nlohmann::ordered_json::array(),
                         test = nlohmann::ordered_json::array();
  for (size_t i = 0; i < n_train + n_test; ++i) {
    const bool is_test = i >= n_train;
    nlohmann::ordered_json r;
    r["prompt_id"] = std::to_string(i / 2);
    r["prompt"] = "prompt \"" + std::to_string(i / 2) + "\" 小红书";
    r["img_path"] = (i % 3 ? "SDXL/" : "FLUX.1-dev/") + std::to_string(100000 + i * 7919 % 1000) +
                    "_" + std::to_string(i) + ".png";
    if (!is_test) r["total_score"] = {score(rng), score(rng), score(rng)};
    nlohmann::ordered_json elements = nlohmann::ordered_json::object();
    const int k = count(rng);
    for (int e = 0; e < k; ++e) {
      const std::string key =
          "thing " + std::to_string(e) + " (" + kCategories[category(rng)] + ")";
      elements[key] = is_test
                          ? nlohmann::ordered_json::array()
                          : nlohmann::ordered_json{int(coin(rng)), int(coin(rng)), int(coin(rng))};
    }
    r["element_score"] = elements;
    (is_test ? test : train).push_back(r);
  }
  std::ofstream(w.dir / "train.json") << train.dump(1);
  std::ofstream(w.dir / "test.json") << test.dump(1);
  w.train = data::read_records((w.dir / "train.json").string());
  w.test = data::read_records((w.dir / "test.json").string());
  return w;
}

// A backbone whose score is MOS + N(0, noise) (test: a hidden MOS), q a softmax around it and
// element probabilities the truth plus noise.
void write_backbone(const World& w, const std::string& backbone, double noise, uint64_t seed,
                    const std::string& hash = "hash-of-the-run",
                    std::vector<std::string> labels = {"1", "2", "3", "4", "5"},
                    bool inject_nan = false, bool with_elements = true) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> gauss(0, 1);
  data::StoreHeader header;
  header.backbone = backbone;
  header.config_yaml = "name: e2e\n";
  header.config_hash = hash;
  header.code_version = "test";
  header.labels = labels;
  for (size_t k = 0; k < labels.size(); ++k) header.label_values.push_back(double(k + 1));
  header.num_folds = 3;
  auto add = [&](data::PredictionSet& set, const data::Record& r, double mos) {
    const double s = mos + noise * gauss(rng);
    std::vector<double> q(labels.size());
    double z = 0;
    for (size_t k = 0; k < q.size(); ++k) z += q[k] = std::exp(-std::pow(s - double(k + 1), 2));
    for (auto& v : q) v /= z;
    std::vector<std::string> keys;
    std::vector<double> probs;
    for (const auto& e : with_elements ? r.elements : std::vector<data::Element>{}) {
      keys.push_back(e.key);
      const double truth = e.mean.value_or(0.6);
      probs.push_back(std::clamp(truth + noise * 0.5 * gauss(rng), 0.0, 1.0));
    }
    set.add(r.img_path, s, q, keys, probs);
  };
  for (int fold = 0; fold < 3; ++fold) {
    data::FoldPredictions f;
    f.fold = fold;
    for (size_t i = 0; i < w.train.size(); ++i) {
      if (int(i % 3) == fold) add(f.oof, w.train[i], *w.train[i].mos);
    }
    for (size_t i = 0; i < w.test.size(); ++i) add(f.test, w.test[i], 1.0 + double(i % 5));
    if (inject_nan && fold == 1) f.oof.score[2] = std::nan("");
    data::write_fold_predictions(w.dir.string(), header, f);
  }
}

config::ResolvedRunConfig make_config(const World& w, const std::string& stackers) {
  const fs::path path = w.dir / "run.yaml";
  std::ofstream(path) << "name: e2e\n"
                      << "data:\n  train_records: " << (w.dir / "train.json").string()
                      << "\n  test_records: " << (w.dir / "test.json").string() << "\n"
                      << "ensemble:\n  bootstrap_samples: 60\n  inner_folds: 3\n  blend_starts: 3\n"
                      << "  threads: 2\n  stackers: " << stackers << "\n"
                      << "  readme:\n    runtime_per_image: 1.25\n";
  return config::load_run_config(path.string());
}

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

TEST(EnsembleEndToEnd, StoresToSubmissionAndReproducibleLeaderboard) {
  const World w = make_world("full", 300, 40);
  write_backbone(w, "good-model", 0.35, 1);
  write_backbone(w, "weak-model", 1.1, 2);
  const auto config = make_config(w, "[ridge, nnls, xgboost]");
  const auto result = run_ensemble_stage(config, w.dir.string());

  // The submission: every test record once, in input order, element keys verbatim, readme fields.
  const auto output = read_json(w.dir / "submission/output.json");
  ASSERT_EQ(output.size(), w.test.size());
  for (size_t i = 0; i < w.test.size(); ++i) {
    EXPECT_EQ(output[i]["img_path"], w.test[i].img_path);
    EXPECT_EQ(output[i]["prompt"], w.test[i].prompt);
    ASSERT_EQ(output[i]["element_score"].size(), w.test[i].elements.size());
    size_t e = 0;
    for (const auto& [key, value] : output[i]["element_score"].items()) {
      EXPECT_EQ(key, w.test[i].elements[e++].key);
      EXPECT_TRUE(value.is_number_float());
    }
    EXPECT_TRUE(output[i]["total_score"].is_number_float());
  }
  std::ifstream readme(w.dir / "submission/readme.txt");
  const std::string readme_text((std::istreambuf_iterator<char>(readme)), {});
  EXPECT_NE(readme_text.find("runtime per image [s] : 1.25"), std::string::npos) << readme_text;
  EXPECT_NE(readme_text.find("CPU[1] / GPU[0] : 0"), std::string::npos);

  // Known structure: the good backbone beats the weak one and dominates the blend.
  const auto summary = read_json(w.dir / "summary.json");
  auto method = [&](const std::string& name) {
    for (const auto& m : summary["methods"])
      if (m["name"] == name) return m;
    ADD_FAILURE() << "no method " << name;
    return nlohmann::json();
  };
  EXPECT_GT(method("good-model")["final"]["value"].get<double>(),
            method("weak-model")["final"]["value"].get<double>() + 0.05);
  EXPECT_GT(summary["score_blend_weights"]["good-model"].get<double>(),
            summary["score_blend_weights"]["weak-model"].get<double>());
  for (const char* name : {"stack:ridge", "stack:nnls", "stack:xgboost", "blend",
                           "good-model/fold0", "weak-model/fold2"}) {
    EXPECT_FALSE(method(name).is_null()) << name;
  }
  // Intervals bracket the point estimate.
  const auto good = method("good-model")["srcc"];
  EXPECT_LE(good["low"].get<double>(), good["value"].get<double>());
  EXPECT_GE(good["high"].get<double>(), good["value"].get<double>());
  EXPECT_TRUE(fs::exists(w.dir / "report/report.md"));
  EXPECT_TRUE(fs::exists(w.dir / "report/methods.svg"));
  EXPECT_TRUE(fs::exists(w.dir / "report/category_accuracy.svg"));
  EXPECT_TRUE(fs::exists(w.dir / "report/scatter_good_model.svg"));

  // Every non-fold leaderboard value is what `evaluate` computes from the files the stage wrote.
  const std::string truth_file = (w.dir / "report/evaluation_ground_truth.json").string();
  nlohmann::json official_input = nlohmann::json::array();
  std::vector<std::string> names;
  for (const auto& m : summary["methods"]) {
    if (m["kind"] == "fold") continue;
    const std::string pred_file = (w.dir / m["evaluation_predictions"].get<std::string>()).string();
    const Metrics direct = evaluate_files(pred_file, truth_file, PlccDirection::kOfficial);
    SCOPED_TRACE(m["name"].get<std::string>());
    EXPECT_NEAR(direct.srcc, m["srcc"]["value"].get<double>(), 1e-12);
    EXPECT_NEAR(direct.plcc, m["plcc"]["value"].get<double>(), 1e-12);
    EXPECT_NEAR(direct.acc, m["acc"]["value"].get<double>(), 1e-12);
    EXPECT_NEAR(direct.final, m["final"]["value"].get<double>(), 1e-12);
    official_input.push_back({{"truth", truth_file},
                              {"submission", pred_file},
                              {"final", direct.final},
                              {"srcc", direct.srcc},
                              {"plcc", direct.plcc},
                              {"acc", direct.acc}});
    names.push_back(m["name"]);
  }
  // ... and what the official script's logic computes from the same files.
  const auto official = testing::run_reference_python(R"PY(
import scipy.stats
from scipy.optimize import curve_fit
def logistic_func(X, b1, b2, b3, b4):
    return b2 + np.divide(b1 - b2, 1 + np.exp(np.negative(np.divide(X - b3, np.abs(b4)))))
def compute_metrics(y_pred, y):
    SRCC = scipy.stats.spearmanr(y, y_pred)[0]
    popt, _ = curve_fit(logistic_func, y_pred, y,
                        p0=[np.max(y), np.min(y), np.mean(y_pred), np.std(y_pred)], maxfev=int(1e8))
    PLCC = scipy.stats.pearsonr(y, logistic_func(y_pred, *popt))[0]
    return SRCC, PLCC
result = []
for case in data:
    truth = sorted(json.load(open(case['truth'])), key=lambda x: x['img_path'])
    sub = sorted(json.load(open(case['submission'])), key=lambda x: x['img_path'])
    gt_s = [t['total_score'] for t in truth]; sub_s = [s['total_score'] for s in sub]
    ge, se = [], []
    for t, s in zip(truth, sub):
        for k in t['element_score']:
            ge.append(t['element_score'][k]); se.append(s['element_score'][k])
    srcc, plcc = compute_metrics(gt_s, sub_s)
    acc = float(np.sum((np.array(ge) >= 0.5) == (np.array(se) >= 0.5)) / len(ge))
    result.append({'srcc': float(srcc), 'plcc': float(plcc), 'acc': acc,
                   'final': float(srcc * 0.25 + plcc * 0.25 + acc * 0.5)})
)PY",
                                                      official_input);
  for (size_t i = 0; i < names.size(); ++i) {
    SCOPED_TRACE(names[i]);
    for (const char* key : {"srcc", "plcc", "acc", "final"}) {
      EXPECT_NEAR(official[i][key].get<double>(), official_input[i][key].get<double>(), 1e-6)
          << key;
    }
  }
  // TOKENFOCUS_KEEP_E2E=1 keeps the run folder to look at the report.
  if (!std::getenv("TOKENFOCUS_KEEP_E2E")) fs::remove_all(w.dir);
}

// A run trained with prompt.element_questions: false: the stores hold no element probabilities.
// The overall score is still bagged, stacked and blended and the report written; acc and final
// are not available; no submission is written (it needs element scores), and the log says so.
TEST(EnsembleEndToEnd, WithoutElementPredictionsTheOverallScoreIsStillEnsembled) {
  const World w = make_world("noelements", 150, 20);
  write_backbone(w, "good", 0.5, 1, "hash-of-the-run", {"1", "2", "3", "4", "5"}, false, false);
  write_backbone(w, "weak", 1.2, 2, "hash-of-the-run", {"1", "2", "3", "4", "5"}, false, false);
  const auto config = make_config(w, "[ridge, nnls]");
  const auto result = run_ensemble_stage(config, w.dir.string());
  const auto& best = result.methods[result.selected];
  EXPECT_GT(best.metrics.srcc.point, 0.5);
  EXPECT_TRUE(std::isnan(best.metrics.acc.point));
  EXPECT_TRUE(std::isnan(best.metrics.final.point));
  EXPECT_TRUE(std::isfinite(best.holdout_final)) << "chosen by (SRCC + PLCC) / 2";
  EXPECT_EQ(result.selection_metric, "(SRCC + PLCC) / 2");
  EXPECT_FALSE(fs::exists(w.dir / "submission" / "output.json"));
  const auto summary = read_json(w.dir / "summary.json");
  EXPECT_EQ(summary["submission"], "");
  EXPECT_EQ(summary["has_element_predictions"], false);
  EXPECT_TRUE(summary["best"]["final"].is_null());
  std::ifstream report(w.dir / "report" / "report.md");
  const std::string md((std::istreambuf_iterator<char>(report)), {});
  EXPECT_NE(md.find("not available (n/a)"), std::string::npos);
  EXPECT_NE(md.find("| n/a |"), std::string::npos);
  fs::remove_all(w.dir);

  // Stores with and without element predictions cannot be ensembled together.
  const World mixed = make_world("mixedelements", 60, 5);
  write_backbone(mixed, "with", 0.5, 1);
  write_backbone(mixed, "without", 0.5, 2, "hash-of-the-run", {"1", "2", "3", "4", "5"}, false,
                 false);
  try {
    run_ensemble_stage(make_config(mixed, "[ridge]"), mixed.dir.string());
    ADD_FAILURE() << "a mix of stores with and without elements was accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("element probabilities"), std::string::npos) << e.what();
  }
  fs::remove_all(mixed.dir);
}

TEST(EnsembleEndToEnd, TestPredictionsAreTheMeanOfTheFoldModels) {
  const World w = make_world("bag", 60, 12);
  write_backbone(w, "a", 0.3, 3);
  const auto stores = data::read_run_stores(w.dir.string());
  const auto inputs = build_ensemble_inputs(stores, w.train, w.test);
  const auto& model = inputs.models.front();
  ASSERT_EQ(model.test_per_fold.size(), 3u);
  for (size_t i = 0; i < w.test.size(); ++i) {
    const double mean = (model.test_per_fold[0].score[i] + model.test_per_fold[1].score[i] +
                         model.test_per_fold[2].score[i]) /
                        3;
    EXPECT_NEAR(model.test.score[i], mean, 1e-12);
  }
  // OOF rows: every training sample once, with the fold that held it out.
  EXPECT_EQ(inputs.truth.size(), w.train.size());
  fs::remove_all(w.dir);
}

TEST(EnsembleEndToEnd, InconsistentStoresAreRefusedNamingWhatDiffers) {
  auto message_of = [](const World& w) {
    try {
      build_ensemble_inputs(data::read_run_stores(w.dir.string()), w.train, w.test);
    } catch (const UserError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  {
    const World w = make_world("labels", 30, 6);
    write_backbone(w, "a", 0.3, 1);
    write_backbone(w, "b", 0.3, 2, "hash-of-the-run", {"1", "2", "3"});
    const auto message = message_of(w);
    EXPECT_NE(message.find("label sets of different values"), std::string::npos) << message;
    fs::remove_all(w.dir);
  }
  {
    // Other words with the same values (Q-Align's rating words beside digits) ensemble together.
    const World w = make_world("words", 30, 6);
    write_backbone(w, "a", 0.3, 1);
    write_backbone(w, "b", 0.3, 2, "hash-of-the-run", {"bad", "poor", "fair", "good", "excellent"});
    EXPECT_EQ(message_of(w), "no error");
    fs::remove_all(w.dir);
  }
  {
    const World w = make_world("hash", 30, 6);
    write_backbone(w, "a", 0.3, 1);
    write_backbone(w, "b", 0.3, 2, "another-run");
    const auto message = message_of(w);
    EXPECT_NE(message.find("different run configs"), std::string::npos) << message;
    fs::remove_all(w.dir);
  }
  {
    const World w = make_world("nan", 30, 6);
    write_backbone(w, "a", 0.3, 1);
    write_backbone(w, "b", 0.3, 2, "hash-of-the-run", {"1", "2", "3", "4", "5"}, true);
    const auto message = message_of(w);
    EXPECT_NE(message.find("backbone 'b' contain NaN for sample"), std::string::npos) << message;
    fs::remove_all(w.dir);
  }
}

TEST(EnsembleEndToEnd, EvaluateRefusesASubmissionMissingARecord) {
  const World w = make_world("missing", 20, 0);
  nlohmann::json sub = read_json(w.dir / "train.json");
  for (auto& r : sub) {
    r["total_score"] = 3.0;
    for (auto& [k, v] : r["element_score"].items()) v = 0.7;
  }
  sub.erase(sub.begin() + 4);
  std::ofstream(w.dir / "sub.json") << sub.dump();
  try {
    evaluate_files((w.dir / "sub.json").string(), (w.dir / "train.json").string(),
                   PlccDirection::kOfficial);
    ADD_FAILURE() << "expected a UserError";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("no prediction for img_path"), std::string::npos)
        << e.what();
  }
  fs::remove_all(w.dir);
}

}  // namespace
}  // namespace tokenfocus::ensemble
