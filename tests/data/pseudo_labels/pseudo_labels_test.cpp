// data.pseudo_labels (a teacher's predictions as soft targets of unlabelled records, from a store
// file, a store folder's bag of folds or a submission, with a confidence filter) and
// data.element_flags (EvalMuse's flags as element weights).
#include <gtest/gtest.h>
#include <unistd.h>  // getpid: ctest runs tests in parallel processes; each gets its own folder

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "data/element_flags.h"
#include "data/prediction_store.h"
#include "data/pseudo_labels.h"

namespace tokenfocus::data {
namespace {

namespace fs = std::filesystem;

const char* kUnlabelled = R"J([
  {"prompt": "a red car", "img_path": "t/0.png", "element_score": {"car (object)": [], "red (color)": []}},
  {"prompt": "a dog", "img_path": "t/1.png", "element_score": {"dog (animal)": []}}
])J";

class PseudoLabelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tokenfocus_pseudo_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    write("test.json", kUnlabelled);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) const {
    const auto path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  // A store of `folds` folds whose test rows predict the two records; fold f adds f/10 to q[3].
  std::string write_store(int folds) const {
    StoreHeader h;
    h.backbone = "teacher";
    h.config_yaml = "name: t\n";
    h.config_hash = "h";
    h.code_version = "test";
    h.labels = {"1", "2", "3", "4", "5"};
    h.label_values = {1, 2, 3, 4, 5};
    h.num_folds = folds;
    for (int f = 0; f < folds; ++f) {
      FoldPredictions p;
      p.fold = f;
      const double d = f / 10.0;
      p.test.add("t/0.png", 3.5 + d, {0.05, 0.05, 0.1, 0.7 + d, 0.1 - d},
                 {"car (object)", "red (color)"}, {0.9, 0.55});
      p.test.add("t/1.png", 2.0, {0.3, 0.35, 0.3, 0.05, 0.0}, {"dog (animal)"}, {0.2 + d});
      write_fold_predictions((dir_ / "run").string(), h, p);
    }
    return (dir_ / "run" / "predictions" / "teacher").string();
  }
  config::PseudoLabelsConfig config(const std::string& predictions) const {
    config::PseudoLabelsConfig c;
    c.predictions = predictions;
    c.weight = 0.5;
    return c;
  }
  std::string test_path() const { return (dir_ / "test.json").string(); }

  fs::path dir_;
};

TEST_F(PseudoLabelsTest, AStoreFileGivesItsTestRowsAsSoftTargets) {
  write_store(1);
  const auto pseudo = read_pseudo_labels(
      config((dir_ / "run" / "predictions" / "teacher" / "fold0.h5").string()), test_path());
  ASSERT_EQ(pseudo.records.size(), 2u);
  const Record& r = pseudo.records[0];
  EXPECT_TRUE(r.pseudo_labelled);
  EXPECT_EQ(r.weight, 0.5);
  EXPECT_EQ(*r.mos, 3.5);
  EXPECT_EQ(r.overall_target.label_values, (std::vector<double>{1, 2, 3, 4, 5}));
  EXPECT_EQ(r.overall_target.probabilities, (std::vector<double>{0.05, 0.05, 0.1, 0.7, 0.1}));
  EXPECT_EQ(*r.elements[0].mean, 0.9);
  EXPECT_EQ(*r.elements[1].mean, 0.55);
  EXPECT_EQ(r.elements[1].weight, 1.0);
  EXPECT_EQ(pseudo.elements, 3);
}

TEST_F(PseudoLabelsTest, AStoreFolderIsTheBagOfItsFolds) {
  const auto folder = write_store(2);
  const auto pseudo = read_pseudo_labels(config(folder), test_path());
  ASSERT_EQ(pseudo.records.size(), 2u);
  EXPECT_NEAR(*pseudo.records[0].mos, 3.55, 1e-12);
  EXPECT_NEAR(pseudo.records[0].overall_target.probabilities[3], 0.75, 1e-12);
  EXPECT_NEAR(*pseudo.records[1].elements[0].mean, 0.25, 1e-12);
}

TEST_F(PseudoLabelsTest, ConfidenceFilterLeavesOutRecordsAndElementQuestions) {
  // t/0.png: largest q 0.7, P(yes) 0.9 and 0.55; t/1.png: largest q 0.35, P(yes) 0.2.
  auto c = config(write_store(1));
  c.min_confidence = 0.4;
  auto pseudo = read_pseudo_labels(c, test_path());
  ASSERT_EQ(pseudo.records.size(), 1u) << "t/1.png (0.35) is left out";
  EXPECT_EQ(pseudo.records[0].img_path, "t/0.png");
  EXPECT_EQ(pseudo.left_out, 1);
  EXPECT_EQ(pseudo.records[0].elements[1].weight, 1.0) << "max(0.55, 0.45) >= 0.4";
  c.min_confidence = 0.6;
  pseudo = read_pseudo_labels(c, test_path());
  ASSERT_EQ(pseudo.records.size(), 1u);
  EXPECT_EQ(pseudo.records[0].elements[0].weight, 1.0);
  EXPECT_EQ(pseudo.records[0].elements[1].weight, 0.0) << "red's 0.55 is below 0.6: not asked";
  EXPECT_EQ(pseudo.elements, 1);
  EXPECT_EQ(pseudo.elements_left_out, 1);
  c.min_confidence = 0.75;
  EXPECT_TRUE(read_pseudo_labels(c, test_path()).records.empty());
}

TEST_F(PseudoLabelsTest, ASubmissionGivesScoresOnly) {
  const auto submission = write("output.json", R"J([
    {"prompt": "a red car", "img_path": "t/0.png", "total_score": 4.25,
     "element_score": {"car (object)": 0.7, "red (color)": 0.1}},
    {"prompt": "a dog", "img_path": "t/1.png", "total_score": 1.5,
     "element_score": {"dog (animal)": 0.95}}])J");
  const auto pseudo = read_pseudo_labels(config(submission), test_path());
  ASSERT_EQ(pseudo.records.size(), 2u);
  EXPECT_EQ(*pseudo.records[0].mos, 4.25);
  EXPECT_TRUE(pseudo.records[0].overall_target.probabilities.empty());
  EXPECT_EQ(*pseudo.records[0].elements[1].mean, 0.1);
  // Element confidence works for a submission too; overall confidence cannot.
  auto c = config(submission);
  c.min_confidence = 0.8;
  try {
    read_pseudo_labels(c, test_path());
    FAIL() << "min_confidence on a submission was accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("no label probabilities"), std::string::npos) << e.what();
  }
}

TEST_F(PseudoLabelsTest, MismatchesAreErrorsNamingTheRecord) {
  const auto folder = write_store(1);
  auto message_of = [&](const std::string& records) {
    try {
      read_pseudo_labels(config(folder), records);
    } catch (const UserError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const auto missing =
      write("missing.json", R"J([{"prompt": "x", "img_path": "t/9.png", "element_score": {}}])J");
  EXPECT_NE(message_of(missing).find("record 0 (img_path \"t/9.png\"): " + folder +
                                     " holds no prediction for it"),
            std::string::npos)
      << message_of(missing);
  const auto other = write("other.json", R"J([{"prompt": "a dog", "img_path": "t/1.png",
      "element_score": {"cat (animal)": []}}])J");
  EXPECT_NE(message_of(other).find("element(s) differ"), std::string::npos) << message_of(other);
  const auto labelled = write("labelled.json", R"J([{"prompt": "a dog", "img_path": "t/1.png",
      "total_score": [3], "element_score": {"dog (animal)": []}}])J");
  EXPECT_NE(message_of(labelled).find("has labels"), std::string::npos) << message_of(labelled);
  EXPECT_NE(message_of("").find("no unlabelled records"), std::string::npos);
  auto c = config((dir_ / "nowhere.h5").string());
  EXPECT_THROW(read_pseudo_labels(c, test_path()), UserError);
}

TEST_F(PseudoLabelsTest, APseudoLabelledRecordCannotAlsoBeLabelled) {
  const auto pseudo = read_pseudo_labels(config(write_store(1)), test_path());
  std::vector<Record> labelled(1);
  labelled[0].img_path = "t/1.png";
  try {
    check_disjoint(labelled, pseudo.records, "train.json");
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("'t/1.png' is also a labelled record of train.json"),
              std::string::npos)
        << e.what();
  }
  labelled[0].img_path = "t/2.png";
  EXPECT_NO_THROW(check_disjoint(labelled, pseudo.records, "train.json"));
}

TEST(ElementFlags, RulesMultiplyIntoElementWeights) {
  std::vector<Record> records(4);
  for (auto& r : records) r.elements.resize(2);
  records[0].flags.split_confidence = 0;
  records[1].flags.split_confidence = 0, records[1].flags.attribute_confidence = 0;
  records[2].flags.promt_meaningless = 1;
  // records[3]: no flags (a ground-truth file): no rule matches.
  std::vector<config::ElementFlagRule> rules(3);
  rules[0] = {"split_confidence", 0, 0.5};
  rules[1] = {"attribute_confidence", 0, 0.5};
  rules[2] = {"promt_meaningless", 1, 0};
  const auto counts = apply_element_flags(records, rules);
  EXPECT_EQ(records[0].elements[0].weight, 0.5);
  EXPECT_EQ(records[1].elements[1].weight, 0.25);
  EXPECT_EQ(records[2].elements[0].weight, 0.0);
  EXPECT_EQ(records[3].elements[0].weight, 1.0);
  EXPECT_EQ(counts.weighted, 4);
  EXPECT_EQ(counts.dropped, 2);
}

}  // namespace
}  // namespace tokenfocus::data
