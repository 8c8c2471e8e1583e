// Folds: grouped by prompt, disjoint, covering, stratified by MOS, deterministic, reused on resume.
#include <gtest/gtest.h>
#include <unistd.h>  // getpid: ctest runs tests in parallel processes; each gets its own folder

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "common/error.h"
#include "data/folds.h"

namespace tokenfocus::data {
namespace {

// 300 prompts with 1–6 images each; a prompt's MOS level is drawn once, its images vary around it.
std::vector<Record> make_records(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Record> records;
  for (int p = 0; p < 300; ++p) {
    const int images = 1 + static_cast<int>(rng() % 6);
    const double level = 1.0 + static_cast<double>(rng() % 4001) / 1000.0;
    for (int i = 0; i < images; ++i) {
      Record r;
      r.prompt_id = fmt::format("p{:03d}", p);
      r.prompt = "prompt " + r.prompt_id;
      r.img_path = fmt::format("m{}/{:03d}.png", i, p);
      r.mos = std::clamp(level + (static_cast<double>(rng() % 1001) / 1000.0 - 0.5), 1.0, 5.0);
      records.push_back(r);
    }
  }
  return records;
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}
double sd(const std::vector<double>& v) {
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size()));
}

TEST(Folds, GroupedDisjointCoveringAndBalanced) {
  const auto records = make_records(1);
  const auto folds = make_folds(records, 5, 42);
  ASSERT_EQ(folds.fold.size(), records.size());
  std::map<std::string, std::set<int64_t>> folds_of_prompt;
  for (size_t i = 0; i < records.size(); ++i) {
    ASSERT_GE(folds.fold[i], 0);
    ASSERT_LT(folds.fold[i], 5);
    folds_of_prompt[records[i].prompt_id].insert(folds.fold[i]);
  }
  for (const auto& [prompt, set] : folds_of_prompt)
    EXPECT_EQ(set.size(), 1u) << prompt << " is in two folds";
  size_t total = 0;
  for (int64_t f = 0; f < 5; ++f) {
    const auto val = folds.validation_indices(f);
    const auto train = folds.training_indices(f);
    EXPECT_EQ(val.size() + train.size(), records.size());
    total += val.size();
    // Balanced: every fold within 5% of n/k (groups hold at most 6 samples).
    EXPECT_NEAR(static_cast<double>(val.size()), records.size() / 5.0, records.size() * 0.05);
  }
  EXPECT_EQ(total, records.size());
}

TEST(Folds, StratifiedByMos) {
  const auto records = make_records(2);
  const auto folds = make_folds(records, 5, 7);
  std::vector<double> all;
  for (const auto& r : records) all.push_back(*r.mos);
  const double m = mean(all), s = sd(all);
  for (int64_t f = 0; f < 5; ++f) {
    std::vector<double> v;
    for (auto i : folds.validation_indices(f)) v.push_back(*records[i].mos);
    // Each fold's MOS mean and spread match the whole set's: a fold of ~n/5 samples drawn at random
    // would have a mean standard error of s/sqrt(n/5) ≈ 0.07; stratification keeps it well below.
    EXPECT_NEAR(mean(v), m, 0.05) << "fold " << f;
    EXPECT_NEAR(sd(v), s, 0.08) << "fold " << f;
    EXPECT_LT(*std::min_element(v.begin(), v.end()), 1.6);
    EXPECT_GT(*std::max_element(v.begin(), v.end()), 4.4);
  }
}

TEST(Folds, DeterministicAndIndependentOfRecordOrder) {
  const auto records = make_records(3);
  const auto a = make_folds(records, 5, 11);
  const auto b = make_folds(records, 5, 11);
  EXPECT_EQ(a.fold, b.fold);
  const auto c = make_folds(records, 5, 12);
  EXPECT_NE(a.fold, c.fold) << "the seed must matter";
  auto reversed = records;
  std::reverse(reversed.begin(), reversed.end());
  const auto d = make_folds(reversed, 5, 11);
  for (size_t i = 0; i < records.size(); ++i) EXPECT_EQ(a.fold[i], d.fold[records.size() - 1 - i]);
}

TEST(Folds, PinnedAssignmentIsPortable) {
  // The same input + seed must give these folds on any machine and compiler: a change here means
  // every saved run's folds change.
  std::vector<Record> records;
  for (int i = 0; i < 12; ++i) {
    Record r;
    r.prompt_id = fmt::format("q{}", i / 2);
    r.img_path = fmt::format("{}.png", i);
    r.mos = 1.0 + (i * 7 % 12) / 3.0;
    records.push_back(r);
  }
  const auto folds = make_folds(records, 3, 2024);
  std::vector<int64_t> got = folds.fold;
  // Recorded from this implementation (std::mt19937_64 + our Fisher–Yates + rejection sampling).
  const std::vector<int64_t> expected = {1, 1, 0, 0, 2, 2, 2, 2, 0, 0, 1, 1};
  EXPECT_EQ(got, expected);
}

TEST(Folds, WrittenAndReusedOnResume) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("tokenfocus_folds_run_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  const auto records = make_records(4);
  const auto first = load_or_make_folds(dir.string(), records, 5, 3);
  ASSERT_TRUE(std::filesystem::exists(dir / "folds.json"));
  EXPECT_FALSE(std::filesystem::exists(dir / ("folds.json.tmp." + std::to_string(getpid()))));
  // Resume with the records in another order: the saved assignment follows the records.
  auto shuffled = records;
  std::reverse(shuffled.begin(), shuffled.end());
  const auto again = load_or_make_folds(dir.string(), shuffled, 5, 3);
  for (size_t i = 0; i < records.size(); ++i)
    EXPECT_EQ(again.fold[records.size() - 1 - i], first.fold[i]);

  auto fewer = records;
  fewer.pop_back();
  try {
    load_or_make_folds(dir.string(), fewer, 5, 3);
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "made for a different sample set: 0 current record(s) are not in it, 1"),
              std::string::npos)
        << e.what();
  }
  auto more = records;
  more.push_back(records.front());
  more.back().img_path = "new.png";
  try {
    load_or_make_folds(dir.string(), more, 5, 3);
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("1 current record(s) are not in it (e.g. \"new.png\")"),
              std::string::npos)
        << e.what();
  }
  try {
    load_or_make_folds(dir.string(), records, 4, 3);
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("made with k=5 seed=3, but the config says k=4 seed=3"),
              std::string::npos)
        << e.what();
  }
  std::filesystem::remove_all(dir);
}

TEST(Folds, RejectsUnusableInput) {
  auto records = make_records(5);
  records[3].mos.reset();
  try {
    make_folds(records, 5, 0);
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("record 3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no total_score"), std::string::npos) << e.what();
  }
  records = make_records(5);
  records.resize(3);  // at most 3 prompts
  EXPECT_THROW(make_folds(records, 5, 0), UserError);
}

}  // namespace
}  // namespace tokenfocus::data
