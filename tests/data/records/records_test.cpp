// Records: the shipped EvalMuse/NTIRE examples load as documented; each malformed input gets one
// error naming file, record and key.
#include <gtest/gtest.h>
#include <unistd.h>  // getpid: ctest runs tests in parallel processes; each gets its own folder

#include <cmath>
#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "data/records.h"

namespace tokenfocus::data {
namespace {

const std::string kExamples = "../shared/examples/";

// Runs fn, expects a UserError whose message contains every fragment.
template <class Fn>
void expect_user_error(Fn fn, std::initializer_list<std::string> fragments) {
  try {
    fn();
    FAIL() << "no error";
  } catch (const UserError& e) {
    for (const auto& f : fragments)
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
  }
}

TEST(Records, ReadsEvalMuseTrainingRecords) {
  const auto records = read_records(kExamples + "evalmuse_records.json");
  ASSERT_EQ(records.size(), 4u);
  const Record& fox = records[0];
  EXPECT_EQ(fox.prompt_id, "0001");
  EXPECT_EQ(fox.img_path, "SDXL-Turbo/00001.png");
  EXPECT_EQ(fox.annotator_scores, (std::vector<double>{4, 3, 4}));
  ASSERT_TRUE(fox.mos);
  EXPECT_NEAR(*fox.mos, 11.0 / 3.0, 1e-12);
  ASSERT_EQ(fox.elements.size(), 6u);
  // File order is kept (not sorted by key).
  EXPECT_EQ(fox.elements[0].key, "fox (animal)");
  EXPECT_EQ(fox.elements[1].key, "red (color)");
  EXPECT_EQ(fox.elements[1].name, "red");
  EXPECT_EQ(fox.elements[1].category, "color");
  EXPECT_EQ(fox.elements[1].labels, (std::vector<double>{1, 0, 1}));
  EXPECT_NEAR(*fox.elements[1].mean, 2.0 / 3.0, 1e-12);

  const Record& stop = records[2];
  EXPECT_NE(stop.prompt.find("\"STOP\" sign, 小红书 style"), std::string::npos);
  EXPECT_EQ(stop.elements[4].name, "left of");
  EXPECT_EQ(stop.elements[4].category, "location");
  EXPECT_EQ(stop.elements[5].name, "STOP sign");

  const Record& abstract = records[3];  // empty element_score, promt_meaningless: 1
  EXPECT_TRUE(abstract.elements.empty());
  EXPECT_NEAR(*abstract.mos, 8.0 / 3.0, 1e-12);
  // EvalMuse's flags, as the file has them (record 2: split_confidence 1).
  EXPECT_EQ(abstract.flags.promt_meaningless, 1.0);
  EXPECT_EQ(records[0].flags.split_confidence, 0.0);
  EXPECT_EQ(records[2].flags.split_confidence, 1.0);
  EXPECT_EQ(records[0].flags.attribute_confidence, 1.0);
}

TEST(Records, FlagsAreOptionalAndMustBeNumbers) {
  const auto plain = parse_records(R"J([{"prompt": "p", "img_path": "a.png"}])J", "x.json");
  EXPECT_FALSE(plain[0].flags.split_confidence.has_value());
  try {
    parse_records(R"J([{"prompt": "p", "img_path": "a.png", "split_confidence": "high"}])J",
                  "x.json");
    FAIL() << "a string flag was accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "x.json: record 0 (img_path \"a.png\"): key \"split_confidence\": expected a "
                  "number, got a string"),
              std::string::npos)
        << e.what();
  }
}

TEST(Records, ReadsTestRecordsWithoutScores) {
  const auto records = read_records(kExamples + "evalmuse_test_records.json");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_FALSE(records[0].mos);
  EXPECT_TRUE(records[0].annotator_scores.empty());
  ASSERT_EQ(records[0].elements.size(), 3u);
  EXPECT_EQ(records[0].elements[1].key, "top hat (object)");
  EXPECT_TRUE(records[0].elements[1].labels.empty());
  EXPECT_FALSE(records[0].elements[1].mean);
}

TEST(Records, ReadsChallengeGroundTruthLayout) {
  const auto records = read_records(kExamples + "ntire_eval_ground_truth.json");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_DOUBLE_EQ(*records[0].mos, 3.6667);
  EXPECT_TRUE(records[0].annotator_scores.empty());
  EXPECT_EQ(records[0].prompt_id, records[0].prompt);  // no prompt_id: the prompt groups images
  EXPECT_DOUBLE_EQ(*records[1].elements[3].mean, 0.6667);
  EXPECT_EQ(records[1].elements[3].key, "marble (material)");
}

TEST(Records, SplitsElementKeys) {
  std::string name, category;
  split_element_key("red car (color)", name, category);
  EXPECT_EQ(name, "red car");
  EXPECT_EQ(category, "color");
  split_element_key("no category", name, category);
  EXPECT_EQ(name, "no category");
  EXPECT_EQ(category, "");
  split_element_key("sign (a) (other)", name, category);
  EXPECT_EQ(name, "sign (a)");
  EXPECT_EQ(category, "other");
}

TEST(Records, MalformedInputsNameFileRecordAndKey) {
  const std::string src = "bad.json";
  expect_user_error([&] { parse_records("[{\"prompt\": \"x\", ", src); },
                    {"bad.json", "not valid JSON"});
  expect_user_error([&] { parse_records("{}", src); },
                    {"bad.json", "expected a JSON list of records"});
  expect_user_error([&] { parse_records("[3]", src); },
                    {"bad.json: record 0", "expected an object"});
  expect_user_error([&] { parse_records(R"J([{"img_path": "a.png"}])J", src); },
                    {"record 0", "\"prompt\"", "missing"});
  expect_user_error([&] { parse_records(R"J([{"prompt": "p"}])J", src); },
                    {"record 0", "\"img_path\"", "missing"});
  expect_user_error([&] { parse_records(R"J([{"prompt": "p", "img_path": 7}])J", src); },
                    {"record 0", "\"img_path\"", "expected a string, got a number"});
  expect_user_error(
      [&] {
        parse_records(R"J([{"prompt": "p", "img_path": "a.png", "total_score": [3]},
                          {"prompt": "p", "img_path": "b.png", "total_score": [3, "4"]}])J",
                      src);
      },
      {"bad.json: record 1 (img_path \"b.png\")", "\"total_score\"", "item 1", "got a string"});
  expect_user_error(
      [&] {
        parse_records(R"J([{"prompt": "p", "img_path": "a.png", "total_score": "4"}])J", src);
      },
      {"\"total_score\"", "expected a list of numbers or a number"});
  expect_user_error(
      [&] {
        parse_records(R"J([{"prompt": "p", "img_path": "a.png", "total_score": [4, 9]}])J", src);
      },
      {"\"total_score\"", "value 9 is outside [1, 5]"});
  expect_user_error(
      [&] {
        parse_records(R"J([{"prompt": "p", "img_path": "a.png", "element_score": [1, 0]}])J", src);
      },
      {"\"element_score\"", "expected an object"});
  expect_user_error(
      [&] {
        parse_records(
            R"J([{"prompt": "p", "img_path": "a.png", "element_score": {"red (color)": [1, 2]}}])J",
            src);
      },
      {"record 0", "\"element_score.red (color)\"", "value 2 is outside [0, 1]"});
  expect_user_error(
      [&] {
        parse_records(
            R"J([{"prompt": "p", "img_path": "a.png", "element_score": {"red (color)": true}}])J",
            src);
      },
      {"\"element_score.red (color)\"", "got a boolean"});
  expect_user_error(
      [&] {
        parse_records(
            R"J([{"prompt": "p", "img_path": "a.png"}, {"prompt": "q", "img_path": "a.png"}])J",
            src);
      },
      {"record 1", "\"a.png\" repeats record 0"});
  expect_user_error([&] { read_records("/nonexistent/records.json"); },
                    {"/nonexistent/records.json", "cannot open"});
}

TEST(Records, ToleratesUnknownAndNullKeys) {
  const auto records = parse_records(
      R"J([{"prompt": "p", "img_path": "a.png", "prompt_id": 12, "total_score": null, "element_score": null,
           "extra": {"nested": [1, 2]}, "promt_meaningless": 0}])J",
      "x.json");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].prompt_id, "12");
  EXPECT_FALSE(records[0].mos);
}

TEST(Records, MissingImagesAreListedOrSkipped) {
  const auto root = std::filesystem::temp_directory_path() /
                    ("tokenfocus_records_images_" + std::to_string(getpid()));
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root / "m");
  std::ofstream(root / "m" / "present.png") << "x";
  std::string json = "[{\"prompt\": \"p\", \"img_path\": \"m/present.png\"}";
  for (int i = 0; i < 12; ++i)
    json += fmt::format(", {{\"prompt\": \"p\", \"img_path\": \"m/gone{:02d}.png\"}}", i);
  json += "]";
  const auto records = parse_records(json, "r.json");
  expect_user_error(
      [&] { check_images(records, root.string(), MissingImages::kError, "r.json"); },
      {"r.json", "12 of 13 image(s) are missing", "gone00.png", "gone09.png", "and 2 more"});
  try {
    check_images(records, root.string(), MissingImages::kError, "r.json");
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()).find("gone10.png"), std::string::npos)
        << "only the first 10 are listed";
  }
  const auto kept = check_images(records, root.string(), MissingImages::kSkip, "r.json");
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].img_path, "m/present.png");
  EXPECT_EQ(parse_missing_images("skip"), MissingImages::kSkip);
  expect_user_error([] { parse_missing_images("ignore"); }, {"data.missing_images", "ignore"});
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace tokenfocus::data
