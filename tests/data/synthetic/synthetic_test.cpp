// Synthetic dataset: deterministic per seed, loads through read_records like EvalMuse files, has
// fully / partly / not matching images whose MOS follows the satisfied elements, and its tokenizer
// makes every prompt word one token.
#include <gtest/gtest.h>
#include <unistd.h>  // getpid: ctest runs tests in parallel processes; each gets its own folder

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "data/chat_template.h"
#include "data/image.h"
#include "data/records.h"
#include "data/synthetic.h"
#include "data/tokenizer.h"

namespace tokenfocus::data {
namespace {

namespace fs = std::filesystem;

SyntheticOptions small(uint64_t seed) {
  SyntheticOptions o;
  o.train_samples = 120;
  o.test_samples = 24;
  o.seed = seed;
  return o;
}

TEST(Synthetic, DeterministicPerSeed) {
  const auto a = generate_synthetic_split(small(5), "train", 60);
  const auto b = generate_synthetic_split(small(5), "train", 60);
  const auto c = generate_synthetic_split(small(6), "train", 60);
  ASSERT_EQ(a.size(), 60u);
  bool any_difference = false;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].record.prompt, b[i].record.prompt);
    EXPECT_EQ(a[i].record.annotator_scores, b[i].record.annotator_scores);
    EXPECT_EQ(a[i].image.pixels, b[i].image.pixels);
    any_difference |= a[i].image.pixels != c[i].image.pixels;
  }
  EXPECT_TRUE(any_difference) << "the seed must matter";
  // Train and test streams differ.
  const auto t = generate_synthetic_split(small(5), "test", 60);
  EXPECT_NE(a[0].image.pixels, t[0].image.pixels);
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  double mx = 0, my = 0;
  for (size_t i = 0; i < x.size(); ++i) mx += x[i], my += y[i];
  mx /= x.size(), my /= y.size();
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxy / std::sqrt(sxx * syy);
}

TEST(Synthetic, ScoresFollowSatisfiedElementsWithNoise) {
  const auto samples = generate_synthetic_split(small(1), "train", 1000);
  std::vector<double> fraction, mos;
  int full = 0, none = 0, partial = 0, multi_element = 0;
  std::map<std::string, int> categories;
  for (const auto& s : samples) {
    ASSERT_GE(s.record.elements.size(), 2u) << s.record.prompt;
    multi_element += s.record.elements.size() > 2;
    double satisfied = 0;
    for (const auto& e : s.record.elements) {
      satisfied += *e.mean >= 0.5;
      ++categories[e.category];
    }
    const double f = satisfied / s.record.elements.size();
    fraction.push_back(f);
    mos.push_back(*s.record.mos);
    (f == 1 ? full : f == 0 ? none : partial)++;
    EXPECT_EQ(s.image.width, 56);
    EXPECT_EQ(s.record.annotator_scores.size(), 3u);
  }
  // All three kinds of match are common (annotator label noise blurs the exact shares).
  EXPECT_GT(full, 150);
  EXPECT_GT(partial, 400);
  EXPECT_GT(none, 60);
  EXPECT_GT(multi_element, 100);
  for (const char* c : {"object", "color", "counting", "location", "spatial"})
    EXPECT_GT(categories[c], 20) << c;
  // Strong but not perfect signal: MOS tracks the satisfied fraction, with annotator noise.
  const double r = pearson(fraction, mos);
  EXPECT_GT(r, 0.8);
  EXPECT_LT(r, 0.99);
  const auto [lo, hi] = std::minmax_element(mos.begin(), mos.end());
  EXPECT_EQ(*lo, 1.0);
  EXPECT_EQ(*hi, 5.0);
}

TEST(Synthetic, DrawsShapesWhereAsked) {
  RgbImage image;
  image.width = image.height = 40;
  image.pixels.assign(40 * 40 * 3, 0);
  draw_shape(image, ShapeSpec{"circle", {200, 10, 20}, 20, 20, 8});
  EXPECT_EQ(image.row(20)[20 * 3], 200);  // centre
  EXPECT_EQ(image.row(20)[20 * 3 + 1], 10);
  EXPECT_EQ(image.row(13)[13 * 3], 0);  // outside the circle, inside its box
  EXPECT_EQ(image.row(0)[0], 0);
  draw_shape(image, ShapeSpec{"triangle", {0, 250, 0}, 20, 20, 8});
  EXPECT_EQ(image.row(25)[15 * 3 + 1], 250);  // near the base, left of centre
  EXPECT_EQ(image.row(13)[14 * 3 + 1], 0);    // beside the apex
}

TEST(Synthetic, EachShapeStaysInsideOneCellOfTheTwoByTwoGrid) {
  // The cell borders (the middle rows and columns) show only background: at 56 px every merged
  // vision token of the tiny models sees at most one shape. Background and pixel noise are ±10 and
  // ±6 per channel, so two background pixels differ by at most 32.
  SyntheticOptions options = small(4);
  const auto samples = generate_synthetic_split(options, "train", 200);
  int shapes_seen = 0;
  for (const auto& s : samples) {
    const RgbImage& image = s.image;
    const uint8_t* corner = image.row(0);
    auto background_like = [&](int64_t x, int64_t y) {
      for (int c = 0; c < 3; ++c)
        if (std::abs(image.row(y)[x * 3 + c] - corner[c]) > 32) return false;
      return true;
    };
    const int64_t mid = image.width / 2;
    for (int64_t i = 0; i < image.width; ++i)
      for (int64_t m : {mid - 1, mid}) {
        EXPECT_TRUE(background_like(m, i)) << s.record.img_path << " column " << m << " row " << i;
        EXPECT_TRUE(background_like(i, m)) << s.record.img_path << " row " << m << " column " << i;
      }
    for (int64_t cy : {mid / 2, mid + mid / 2})
      for (int64_t cx : {mid / 2, mid + mid / 2}) shapes_seen += !background_like(cx, cy);
  }
  EXPECT_GT(shapes_seen, 100);  // shapes do sit in the cells (about 1.5 per image)
}

TEST(Synthetic, WrittenDatasetLoadsThroughTheRecordReader) {
  const auto dir =
      fs::temp_directory_path() / ("tokenfocus_synth_test_" + std::to_string(getpid()));
  fs::remove_all(dir);
  const auto options = small(3);
  write_synthetic_dataset(dir.string(), options);
  auto train = read_records((dir / "train.json").string());
  auto test = read_records((dir / "test.json").string());
  auto truth = read_records((dir / "test_ground_truth.json").string());
  ASSERT_EQ(train.size(), 120u);
  ASSERT_EQ(test.size(), 24u);
  ASSERT_EQ(truth.size(), 24u);
  EXPECT_EQ(check_images(train, dir.string(), MissingImages::kError, "train.json").size(), 120u);
  EXPECT_EQ(check_images(test, dir.string(), MissingImages::kError, "test.json").size(), 24u);

  const auto expected_train = generate_synthetic_split(options, "train", 120);
  for (size_t i = 0; i < train.size(); ++i) {
    const Record& got = train[i];
    const Record& want = expected_train[i].record;
    EXPECT_EQ(got.prompt_id, want.prompt_id);
    EXPECT_EQ(got.prompt, want.prompt);
    EXPECT_EQ(got.annotator_scores, want.annotator_scores);
    ASSERT_EQ(got.elements.size(), want.elements.size());
    for (size_t e = 0; e < got.elements.size(); ++e) {
      EXPECT_EQ(got.elements[e].key, want.elements[e].key);
      EXPECT_EQ(got.elements[e].labels, want.elements[e].labels);
    }
  }
  // PNGs decode to exactly the rendered pixels.
  EXPECT_EQ(decode_image_file((dir / train[7].img_path).string()).pixels,
            expected_train[7].image.pixels);

  const auto expected_test = generate_synthetic_split(options, "test", 24);
  for (size_t i = 0; i < test.size(); ++i) {
    EXPECT_FALSE(test[i].mos) << "test records carry no scores";
    for (const auto& e : test[i].elements) EXPECT_TRUE(e.labels.empty());
    EXPECT_EQ(truth[i].img_path, test[i].img_path);
    EXPECT_NEAR(*truth[i].mos, *expected_test[i].record.mos, 1e-12);
    for (size_t e = 0; e < truth[i].elements.size(); ++e)
      EXPECT_NEAR(*truth[i].elements[e].mean, *expected_test[i].record.elements[e].mean, 1e-12);
  }
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();

  // The tiny tokenizer: every word of the synthetic vocabulary and every label is one token.
  const auto tokenizer = Tokenizer::from_file((dir / "tokenizer.json").string());
  std::vector<std::string> words = synthetic_colours();
  for (const auto& s : synthetic_shapes()) words.push_back(s);
  for (const auto& w : words) EXPECT_EQ(tokenizer.encode(" " + w).size(), 1u) << "\" " << w << "\"";
  for (const char* label : {"1", "2", "3", "4", "5", "yes", "no"})
    EXPECT_EQ(tokenizer.encode(label).size(), 1u) << label;
  // The chat template's role names are single tokens too: <|im_start|> user \n <|im_end|> \n
  // <|im_start|> assistant \n.
  EXPECT_EQ(tokenizer.encode(template_text(ChatTemplateKind::kQwen2VL, "")).size(), 8u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tokenfocus::data
