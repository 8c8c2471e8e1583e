#include "losses/batch_targets.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "common/error.h"

namespace tokenfocus::losses {
namespace {

data::Batch two_samples() {
  data::Batch batch;
  batch.sample_keys = {"a.png", "b.png"};
  data::BatchSequence overall;
  overall.sample = 0;
  overall.target_token = 19;
  overall.target_distribution = {0.0f, 0.0f, 0.25f, 0.75f, 0.0f};
  overall.target_value = 3.75;
  data::BatchSequence element;
  element.sample = 0;
  element.kind = data::QuestionKind::kElement;
  element.element = 1;
  element.target_token = 9693;
  element.target_distribution = {2.0f / 3, 1.0f / 3};
  element.target_value = 2.0 / 3;
  data::BatchSequence second = overall;
  second.sample = 1;
  second.target_value = std::numeric_limits<double>::quiet_NaN();
  batch.sequences = {overall, element, second};
  return batch;
}

const LabelHead kDigits = LabelHead::from_vectors({16, 17, 18, 19, 20}, {1, 2, 3, 4, 5});
const LabelHead kYesNo = LabelHead::from_vectors({9693, 2152}, {1, 0});

TEST(BatchTargets, OneRowPerSequenceInBatchOrder) {
  const auto t = question_targets_from(two_samples(), kDigits, kYesNo);
  EXPECT_EQ(t.is_element.size(0), 3);
  EXPECT_FALSE(t.is_element[0].item<bool>());
  EXPECT_TRUE(t.is_element[1].item<bool>());
  EXPECT_EQ(t.target_token[1].item<int64_t>(), 9693);
  EXPECT_EQ(t.target_dist.sizes(), (std::vector<int64_t>{3, 5}));
  EXPECT_FLOAT_EQ(t.target_dist[0][3].item<float>(), 0.75f);
  EXPECT_FLOAT_EQ(t.target_dist[1][0].item<float>(), 2.0f / 3);
  EXPECT_FLOAT_EQ(t.target_dist[1][2].item<float>(), 0.0f);  // padding past the yes/no set
  EXPECT_DOUBLE_EQ(t.target_value[0].item<double>(), 3.75);
  EXPECT_TRUE(std::isnan(t.target_value[2].item<double>()));
}

TEST(BatchTargets, MissingTargetNamesTheSample) {
  auto batch = two_samples();
  batch.sequences[2].target_distribution.clear();
  try {
    question_targets_from(batch, kDigits, kYesNo);
    FAIL() << "expected a UserError";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("b.png"), std::string::npos) << e.what();
  }
  batch = two_samples();
  batch.sequences[1].target_distribution = {1.0f, 0.0f, 0.0f};
  EXPECT_THROW(question_targets_from(batch, kDigits, kYesNo), UserError);
}

TEST(BatchTargets, LabelHeadFromLabelSetKeepsVariants) {
  data::LabelSet set;
  set.labels = {"yes", "no"};
  set.values = {1, 0};
  set.token_ids = {9693, 2152};
  set.variant_token_ids = {{9454, 14004}, {2753}};
  const auto head = label_head_from(set);
  EXPECT_EQ(head.size(), 2);
  EXPECT_TRUE(head.has_variants());
  EXPECT_EQ(head.variants[0][1].item<int64_t>(), 14004);
  EXPECT_DOUBLE_EQ(head.values[0].item<double>(), 1.0);
}

}  // namespace
}  // namespace tokenfocus::losses
