// Batch builder on the synthetic dataset with the real tokenizer, chat template, Qwen2-VL image
// processor and label sets: sequences, left padding, query positions, shared images, targets, and
// the loader producing the same batches with several workers.
#include <gtest/gtest.h>
#include <unistd.h>  // getpid: ctest runs tests in parallel processes; each gets its own folder

#include <cmath>
#include <filesystem>
#include <memory>

#include "common/error.h"
#include "data/batch_builder.h"
#include "data/loader.h"
#include "data/synthetic.h"

namespace tokenfocus::data {
namespace {

namespace fs = std::filesystem;

class BatchBuilderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("tokenfocus_batch_builder_" + std::to_string(getpid())));
    fs::remove_all(*dir_);
    SyntheticOptions options;
    options.train_samples = 24;
    options.test_samples = 6;
    options.seed = 9;
    write_synthetic_dataset(dir_->string(), options);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  void SetUp() override {
    train_ = read_records((*dir_ / "train.json").string());
    test_ = read_records((*dir_ / "test.json").string());
    tokenizer_ =
        std::make_unique<Tokenizer>(Tokenizer::from_file((*dir_ / "tokenizer.json").string()));
    ImageProcessorSettings settings;
    settings.model_type = "qwen2_vl";
    processor_ = make_image_processor(settings);
    const config::PromptConfig prompt;
    overall_ =
        resolve_label_set(*tokenizer_, prompt.overall_labels, false, "prompt.overall_labels");
    element_ =
        resolve_label_set(*tokenizer_, prompt.element_labels, false, "prompt.element_labels");
    options_.image_root = dir_->string();
  }
  BatchBuilder builder(const std::vector<Record>& records) const {
    return BatchBuilder(records, *processor_, *tokenizer_, overall_, element_, options_);
  }

  static fs::path* dir_;
  std::vector<Record> train_, test_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ImageProcessor> processor_;
  LabelSet overall_, element_;
  BatchBuilderOptions options_;
};
fs::path* BatchBuilderTest::dir_ = nullptr;

// The token ids question q sees in its row: the shared tokens and its own branch, up to its query
// position (packed or not, this is its own sequence).
std::vector<int64_t> own_sequence(const Batch& batch, size_t q) {
  const BatchSequence& s = batch.sequences[q];
  const size_t row = static_cast<size_t>(s.row * batch.seq_len);
  const int64_t branch = batch.attention_mask[row + static_cast<size_t>(s.query_position)];
  std::vector<int64_t> ids;
  for (int64_t t = 0; t <= s.query_position; ++t) {
    const int64_t value = batch.attention_mask[row + static_cast<size_t>(t)];
    if (value == 1 || value == branch) ids.push_back(batch.input_ids[row + static_cast<size_t>(t)]);
  }
  return ids;
}

TEST_F(BatchBuilderTest, UnpackedSequencesAreLeftPaddedWithQueryAtTheEnd) {
  options_.packing.enabled = false;
  const auto b = builder(train_);
  const std::vector<int64_t> indices{3, 0, 7};
  const Batch batch = b.build(indices);
  ASSERT_EQ(batch.sample_keys.size(), 3u);
  ASSERT_EQ(batch.images.size(), 3u);
  size_t expected_rows = 0;
  for (auto i : indices) expected_rows += 1 + train_[i].elements.size();
  ASSERT_EQ(batch.sequences.size(), expected_rows);
  ASSERT_EQ(batch.input_ids.size(), expected_rows * batch.seq_len);
  EXPECT_EQ(b.pad_id(), *tokenizer_->token_id("<|endoftext|>"));

  size_t row = 0;
  for (size_t s = 0; s < indices.size(); ++s) {
    const Record& record = train_[indices[s]];
    EXPECT_EQ(batch.sample_keys[s], record.img_path);
    EXPECT_EQ(batch.sample_records[s], indices[s]);
    const auto processed =
        processor_->process(decode_image_file((*dir_ / record.img_path).string()));
    EXPECT_EQ(batch.images[s].shape, processed.shape);
    EXPECT_EQ(batch.images[s].pixel_values, processed.pixel_values);
    EXPECT_EQ(batch.images[s].grid_thw, processed.grid_thw);
    for (int64_t e = -1; e < static_cast<int64_t>(record.elements.size()); ++e, ++row) {
      const BatchSequence& seq = batch.sequences[row];
      EXPECT_EQ(seq.sample, static_cast<int64_t>(s));
      EXPECT_EQ(seq.image, static_cast<int64_t>(s));
      EXPECT_EQ(seq.element, e);
      EXPECT_EQ(seq.kind, e < 0 ? QuestionKind::kOverall : QuestionKind::kElement);
      const std::string question =
          e < 0 ? fill_question(options_.overall_question, "prompt", record.prompt)
                : fill_question(options_.element_question, "element", record.elements[e].name);
      const auto vqa = build_vqa_sequence(*tokenizer_, ChatTemplateKind::kQwen2VL, question,
                                          processed.num_image_tokens);
      const int64_t pad = batch.seq_len - static_cast<int64_t>(vqa.input_ids.size());
      ASSERT_GE(pad, 0);
      EXPECT_EQ(seq.query_position, vqa.query_position + pad);
      EXPECT_EQ(seq.query_position, batch.seq_len - 1) << "left padding puts every query last";
      EXPECT_EQ(seq.row, static_cast<int64_t>(row));
      for (int64_t t = 0; t < batch.seq_len; ++t) {
        const auto at = row * batch.seq_len + t;
        EXPECT_EQ(batch.attention_mask[at], t >= pad ? 1 : 0);
        EXPECT_EQ(batch.input_ids[at], t >= pad ? vqa.input_ids[t - pad] : b.pad_id());
      }
    }
  }
}

TEST_F(BatchBuilderTest, TargetsFollowAnnotators) {
  const Batch batch = builder(train_).build({5});
  const Record& r = train_[5];
  const BatchSequence& overall = batch.sequences[0];
  EXPECT_EQ(overall.target_value, *r.mos);
  std::vector<float> histogram(5, 0.0f);
  for (double s : r.annotator_scores)
    histogram[static_cast<size_t>(s) - 1] += 1.0f / r.annotator_scores.size();
  EXPECT_EQ(overall.target_distribution, histogram);
  EXPECT_EQ(overall.target_token,
            overall_.token_ids[static_cast<size_t>(std::floor(*r.mos + 0.5)) - 1]);
  for (size_t e = 0; e < r.elements.size(); ++e) {
    const BatchSequence& s = batch.sequences[1 + e];
    const double mean = *r.elements[e].mean;
    EXPECT_NEAR(s.target_distribution[0], mean, 1e-6);  // yes
    EXPECT_NEAR(s.target_distribution[1], 1 - mean, 1e-6);
    EXPECT_EQ(s.target_token, mean >= 0.5 ? element_.token_ids[0] : element_.token_ids[1]);
  }
}

TEST_F(BatchBuilderTest, TestRecordsHaveUnknownTargets) {
  const Batch batch = builder(test_).build({0, 1});
  for (const auto& s : batch.sequences) {
    EXPECT_EQ(s.target_token, -1);
    EXPECT_TRUE(s.target_distribution.empty());
    EXPECT_TRUE(std::isnan(s.target_value));
  }
}

TEST_F(BatchBuilderTest, ElementQuestionsCanNameTheCategory) {
  options_.element_question =
      "Does this image show \"{element}\" (a {category})? Answer yes or no.";
  const Record& r = train_[2];
  ASSERT_FALSE(r.elements.empty());
  const Batch batch = builder(train_).build({2});
  const auto processed = processor_->process(decode_image_file((*dir_ / r.img_path).string()));
  for (size_t e = 0; e < r.elements.size(); ++e) {
    ASSERT_FALSE(r.elements[e].category.empty()) << r.elements[e].key;
    const std::string text = "Does this image show \"" + r.elements[e].name + "\" (a " +
                             r.elements[e].category + ")? Answer yes or no.";
    const auto vqa = build_vqa_sequence(*tokenizer_, ChatTemplateKind::kQwen2VL, text,
                                        processed.num_image_tokens);
    EXPECT_EQ(own_sequence(batch, 1 + e), vqa.input_ids) << text;
  }
}

// Packed (the default): one row per sample; every question sees exactly its own sequence (the
// shared tokens, at least the template up to the image, and its branch), its query last in it.
TEST_F(BatchBuilderTest, PackedRowsHoldEachQuestionsOwnSequence) {
  const auto b = builder(train_);
  const std::vector<int64_t> indices{3, 0, 7};
  const Batch batch = b.build(indices);
  ASSERT_EQ(batch.num_rows(), 3);
  size_t q = 0;
  for (size_t s = 0; s < indices.size(); ++s) {
    const Record& record = train_[static_cast<size_t>(indices[s])];
    const auto processed =
        processor_->process(decode_image_file((*dir_ / record.img_path).string()));
    int64_t shared = 0;
    for (int64_t t = 0; t < batch.seq_len; ++t)
      shared +=
          batch.attention_mask[s * static_cast<size_t>(batch.seq_len) + static_cast<size_t>(t)] ==
          1;
    EXPECT_GT(shared, processed.num_image_tokens) << "the image is in the shared part";
    for (int64_t e = -1; e < static_cast<int64_t>(record.elements.size()); ++e, ++q) {
      const std::string question =
          e < 0 ? fill_question(options_.overall_question, "prompt", record.prompt)
                : fill_question(options_.element_question, "element", record.elements[e].name);
      const auto vqa = build_vqa_sequence(*tokenizer_, ChatTemplateKind::kQwen2VL, question,
                                          processed.num_image_tokens);
      EXPECT_EQ(batch.sequences[q].row, static_cast<int64_t>(s));
      EXPECT_EQ(own_sequence(batch, q), vqa.input_ids) << question;
    }
  }
  EXPECT_EQ(q, batch.sequences.size());
  EXPECT_EQ(batch.sequences.back().query_position, batch.seq_len - 1);
}

TEST_F(BatchBuilderTest, ElementQuestionsCanBeTurnedOff) {
  options_.element_questions = false;
  const Batch batch = builder(train_).build({0, 1, 2});
  EXPECT_EQ(batch.sequences.size(), 3u);
}

TEST_F(BatchBuilderTest, MissingImageNamesTheRecord) {
  auto records = train_;
  records[2].img_path = "images/train/missing.png";
  const auto b = builder(records);
  try {
    b.build({0, 2});
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("record 2 (img_path \"images/train/missing.png\")"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(BatchBuilderTest, LoaderMatchesSequentialBuilds) {
  const auto b = builder(train_);
  std::vector<std::vector<int64_t>> plan;
  for (int64_t i = 0; i + 2 < 24; i += 3) plan.push_back({i, i + 2, i + 1});
  BatchLoader loader([&](const std::vector<int64_t>& idx) { return b.build(idx); }, plan, 3, 2);
  for (const auto& indices : plan) {
    auto got = loader.next();
    ASSERT_TRUE(got);
    const Batch want = b.build(indices);
    EXPECT_EQ(got->sample_keys, want.sample_keys);
    EXPECT_EQ(got->input_ids, want.input_ids);
    EXPECT_EQ(got->images.back().pixel_values, want.images.back().pixel_values);
  }
  EXPECT_FALSE(loader.next());
}

TEST_F(BatchBuilderTest, TrainingBatchesCarryWeightsAndSkipUnweightedQuestions) {
  std::vector<Record> records = {train_[2], train_[5]};
  ASSERT_GE(records[0].elements.size(), 2u);
  records[0].elements[0].weight = 0;  // filtered out (e.g. data.element_flags weight 0)
  records[0].elements[1].weight = 0.5;
  records[1].weight = 0.25;  // a pseudo-labelled record
  options_.training_weights = true;
  const Batch batch = builder(records).build({0, 1});
  ASSERT_EQ(batch.sequences.size(), records[0].elements.size() + records[1].elements.size() + 1);
  EXPECT_EQ(batch.sequences[0].weight, 1.0);
  EXPECT_EQ(batch.sequences[1].element, 1) << "element 0 of weight 0 is not asked";
  EXPECT_EQ(batch.sequences[1].weight, 0.5);
  for (const auto& seq : batch.sequences)
    if (seq.sample == 1) EXPECT_EQ(seq.weight, 0.25);
  // Predictions ask every question, with weight 1.
  options_.training_weights = false;
  const Batch all = builder(records).build({0, 1});
  EXPECT_EQ(all.sequences.size(), records[0].elements.size() + records[1].elements.size() + 2);
  for (const auto& seq : all.sequences) EXPECT_EQ(seq.weight, 1.0);
}

TEST_F(BatchBuilderTest, ATeachersDistributionIsTheSoftTarget) {
  std::vector<Record> records = {test_[0]};
  records[0].mos = 3.7;
  records[0].overall_target = SoftTarget{{1, 2, 3, 4, 5}, {0.05, 0.05, 0.2, 0.6, 0.1}};
  for (auto& e : records[0].elements) e.mean = 0.8;
  const Batch batch = builder(records).build({0});
  const std::vector<float> q = {0.05f, 0.05f, 0.2f, 0.6f, 0.1f};
  EXPECT_EQ(batch.sequences[0].target_distribution, q);
  EXPECT_EQ(batch.sequences[0].target_value, 3.7);
  EXPECT_EQ(batch.sequences[0].target_token, overall_.token_ids[3]);
  if (batch.sequences.size() > 1) EXPECT_NEAR(batch.sequences[1].target_distribution[0], 0.8, 1e-6);
  // A teacher over other label values is refused, naming the record.
  records[0].overall_target.label_values = {0, 1, 2, 3, 4};
  try {
    builder(records).build({0});
    FAIL() << "a teacher over other label values was accepted";
  } catch (const UserError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("record 0 (img_path \"" + records[0].img_path + "\")"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("label values [0, 1, 2, 3, 4]"), std::string::npos) << message;
  }
}

TEST_F(BatchBuilderTest, RatingWordsAreLabelsAndOtherWordsAreRefusedByName) {
  // Q-Align's levels as the overall label set: one token each in the synthetic tokenizer.
  config::LabelSetConfig words{{"bad", "poor", "fair", "good", "excellent"}, {1, 2, 3, 4, 5}};
  const LabelSet levels =
      resolve_label_set(*tokenizer_, words, false, "backbones.1.overall_labels");
  EXPECT_EQ(levels.token_ids.size(), 5u);
  words.labels[4] = "superb";
  try {
    resolve_label_set(*tokenizer_, words, false, "backbones.1.overall_labels");
    FAIL() << "a label of several tokens was accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("backbones.1.overall_labels.labels[4] = \"superb\" is "
                                         "not a single token"),
              std::string::npos)
        << e.what();
  }
}

TEST(TargetDistribution, SoftHardAndMeanOnly) {
  const std::vector<double> values{1, 2, 3, 4, 5};
  EXPECT_EQ(target_distribution(values, {4, 3, 4}, 11.0 / 3, true),
            (std::vector<float>{0, 0, 1.0f / 3, 2.0f / 3, 0}));
  EXPECT_EQ(target_distribution(values, {4, 3, 4}, 11.0 / 3, false),
            (std::vector<float>{0, 0, 0, 1, 0}));
  const auto mean_only = target_distribution(values, {}, 3.25, true);  // ground-truth float
  EXPECT_NEAR(mean_only[2], 0.75, 1e-6);
  EXPECT_NEAR(mean_only[3], 0.25, 1e-6);
  EXPECT_EQ(target_distribution(values, {}, 5.0, true), (std::vector<float>{0, 0, 0, 0, 1}));
  EXPECT_EQ(nearest_label(values, 3.5), 3) << "ties round up, like round(MOS)";
  EXPECT_EQ(nearest_label({1, 0}, 0.5), 0) << "yes at 0.5, as the challenge binarises at >= 0.5";
  const auto yes_no = target_distribution({1, 0}, {}, 0.6667, true);
  EXPECT_NEAR(yes_no[0], 0.6667, 1e-6);
  EXPECT_NEAR(yes_no[1], 0.3333, 1e-6);
}

}  // namespace
}  // namespace tokenfocus::data
