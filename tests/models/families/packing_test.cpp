// Packed rows (data/collate.h) against one row per question, on the golden models of every family:
// random samples with left padding, different images and image sizes, 0 to 8 element questions and
// text-only samples. Tolerances (fp32): focus logits 1e-5 absolute (the packed row sums the same
// attention terms in another order and its softmax runs over more masked keys; ~1e-6 is what fp32
// rounding gives on logits of size ~1), the loss 1e-6 relative (the loss is ~19 here, and one
// float32 ulp of 19 is 1.9e-6: an absolute 1e-6 would ask for less than the format holds), every
// parameter's gradient 1e-5 of its largest entry.
#include <gtest/gtest.h>

#include <random>

#include "golden_family.h"

#include "common/config/sections/loss.h"
#include "common/error.h"
#include "data/batch_split.h"
#include "data/collate.h"
#include "losses/batch_targets.h"
#include "losses/tf_ps_loss.h"
#include "models/batch_tensors.h"

namespace tokenfocus::models {
namespace {

constexpr int64_t kFirstDigit = 30, kYes = 60, kNo = 61;  // label token ids of the test's heads

// A sample as the batch builder prepares it: a template head, the image block (unless text-only),
// a common start of the questions, then per question its own words and the assistant suffix.
data::PreparedSample random_sample(const Family& family, int64_t elements, int64_t image_h,
                                   int64_t image_w, std::mt19937& rng) {
  std::uniform_int_distribution<int64_t> word(100, 480), length(1, 9);
  auto words = [&](int64_t n) {
    std::vector<int64_t> ids;
    for (int64_t i = 0; i < n; ++i) ids.push_back(word(rng));
    return ids;
  };
  data::PreparedSample sample;
  std::vector<int64_t> head = words(3);
  if (image_h > 0) {
    auto [image, block] = family.image(image_h, image_w, rng);
    sample.image = std::move(image);
    head.insert(head.end(), block.begin(), block.end());
  }
  const std::vector<int64_t> common = words(2), suffix = words(3);
  std::uniform_real_distribution<double> unit;
  for (int64_t e = -1; e < elements; ++e) {
    data::PreparedSample::Question q;
    q.ids = head;
    q.ids.insert(q.ids.end(), common.begin(), common.end());
    const auto own = words(length(rng));
    q.ids.insert(q.ids.end(), own.begin(), own.end());
    q.ids.insert(q.ids.end(), suffix.begin(), suffix.end());
    q.query_position = static_cast<int64_t>(q.ids.size()) - 1;
    auto& s = q.sequence;
    s.kind = e < 0 ? data::QuestionKind::kOverall : data::QuestionKind::kElement;
    s.element = e;
    if (e < 0) {
      s.target_value = 1 + 4 * unit(rng);
      const int64_t label = std::llround(s.target_value) - 1;
      s.target_token = kFirstDigit + label;
      s.target_distribution.assign(5, 0.0f);
      s.target_distribution[static_cast<size_t>(label)] = 1.0f;
    } else {
      const bool yes = unit(rng) < 0.5;
      s.target_value = yes ? 1 : 0;
      s.target_token = yes ? kYes : kNo;
      s.target_distribution = {yes ? 1.0f : 0.0f, yes ? 0.0f : 1.0f};
      s.weight = 0.5 + unit(rng);
    }
    sample.questions.push_back(std::move(q));
  }
  return sample;
}

// Samples of one batch: {elements, image h, image w (Qwen; InternVL: tiles)}; h = 0 is text-only.
struct SampleShape {
  int64_t elements, h, w;
};

std::vector<data::PreparedSample> samples_of(const Family& family,
                                             const std::vector<SampleShape>& shapes,
                                             uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<data::PreparedSample> samples;
  for (const auto& shape : shapes)
    samples.push_back(random_sample(family, shape.elements, shape.h, shape.w, rng));
  return samples;
}

struct Pass {
  torch::Tensor logits;  // [Q,V]
  double loss = 0;
  std::vector<torch::Tensor> gradients;
  BackboneCounters counters;
  int64_t rows = 0;
};

Pass run(Backbone& model, const data::Batch& batch) {
  const losses::LabelHead overall = losses::LabelHead::from_vectors(
      {kFirstDigit, kFirstDigit + 1, kFirstDigit + 2, kFirstDigit + 3, kFirstDigit + 4},
      {1, 2, 3, 4, 5});
  const losses::LabelHead element = losses::LabelHead::from_vectors({kYes, kNo}, {1, 0});
  config::LossConfig loss_config;
  loss_config.plcc_weight = 0.5;  // every term that reads the batch's scores, PLCC included
  const losses::TfPsLoss loss(loss_config, overall, element);
  model.train();
  model.zero_grad();
  model.reset_counters();
  Pass pass;
  const torch::Tensor hidden = model.hidden_at(to_model_inputs(batch), query_positions(batch));
  pass.counters = model.counters();
  pass.logits = model.focus_logits(hidden).detach();
  const losses::LossTerms terms =
      loss(hidden, model.lm_head_weight(), losses::question_targets_from(batch, overall, element));
  terms.objective.backward();
  pass.loss = terms.objective.item<double>();
  for (const auto& p : model.parameters())
    pass.gradients.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
  pass.rows = batch.num_rows();
  return pass;
}

class PackingTest : public ::testing::TestWithParam<std::string> {
 protected:
  // `checkpointing`: the packed pass recomputes every block in backward (the unpacked one keeps
  // its activations), so packing and gradient checkpointing are checked together.
  void expect_equivalent(const std::vector<SampleShape>& shapes, uint32_t seed,
                         int64_t row_tokens = 0, bool checkpointing = false) {
    const Family family = family_named(GetParam());
    auto model = family.load();
    data::PackingOptions packed{true, row_tokens}, unpacked{false, 0};
    const data::Batch a =
        data::collate_samples(samples_of(family, shapes, seed), family.pad_id, packed);
    const data::Batch b =
        data::collate_samples(samples_of(family, shapes, seed), family.pad_id, unpacked);
    ASSERT_EQ(a.num_sequences(), b.num_sequences());
    model->set_gradient_checkpointing(checkpointing);
    const Pass p = run(*model, a);
    model->set_gradient_checkpointing(false);
    const Pass u = run(*model, b);
    const double logit_error = (p.logits - u.logits).abs().max().item<double>();
    EXPECT_LE(logit_error, 1e-5) << GetParam();
    EXPECT_LE(std::abs(p.loss - u.loss), 1e-6 * std::max(1.0, std::abs(u.loss)))
        << p.loss << " vs " << u.loss;
    const auto names = model->named_parameters();
    double worst_gradient = 0;
    for (size_t i = 0; i < u.gradients.size(); ++i) {
      const double scale = u.gradients[i].abs().max().item<double>();
      const double error = (p.gradients[i] - u.gradients[i]).abs().max().item<double>();
      EXPECT_LE(error, 1e-5 * scale + 1e-12) << names[i].key() << " (largest " << scale << ")";
      if (scale > 0) worst_gradient = std::max(worst_gradient, error / scale);
    }
    // Both passes ran the tower once over the distinct images (InternVL: tiles; a text-only
    // InternVL batch runs one dummy tile so that the tower takes part in backward), the packed one
    // over fewer decoder tokens.
    int64_t images = 0;
    for (const auto& s : shapes) images += s.h > 0 ? (family.internvl ? s.h : 1) : 0;
    if (images == 0 && family.internvl) images = 1;
    for (const Pass* pass : {&p, &u}) {
      EXPECT_EQ(pass->counters.vision_calls, images > 0 ? 1 : 0);
      EXPECT_EQ(pass->counters.vision_images, images);
    }
    EXPECT_LE(p.counters.decoder_tokens, u.counters.decoder_tokens);
    std::cout << GetParam() << ": " << u.rows << " rows -> " << p.rows << " packed, decoder tokens "
              << u.counters.decoder_tokens << " -> " << p.counters.decoder_tokens
              << "; max |logit diff| " << logit_error << ", |loss diff| "
              << std::abs(p.loss - u.loss) << " (loss " << u.loss << "), gradients within "
              << worst_gradient << " of their largest entry\n";
  }
};

TEST_P(PackingTest, MixedBatchGivesTheUnpackedLogitsLossAndGradients) {
  // 0, 3 and 8 elements, two image sizes, and a text-only sample.
  expect_equivalent({{3, 2, 4}, {8, 4, 4}, {0, 2, 2}, {2, 0, 0}}, 11);
}

TEST_P(PackingTest, EverySampleWithElementsAndOneImageSize) {
  expect_equivalent({{6, 2, 4}, {1, 2, 4}, {5, 2, 4}}, 12);
}

TEST_P(PackingTest, TextOnlyBatch) {
  expect_equivalent({{4, 0, 0}, {1, 0, 0}}, 13);
}

TEST_P(PackingTest, PackedWithGradientCheckpointing) {
  expect_equivalent({{4, 2, 4}, {2, 0, 0}, {7, 4, 4}}, 16, 0, /*checkpointing=*/true);
}

TEST_P(PackingTest, RowBudgetSplitsSamplesAndStaysExact) {
  expect_equivalent({{8, 2, 4}, {3, 4, 4}}, 14, /*row_tokens=*/40);
}

// optim.forward_tokens: a batch run in forwards of at most N padded tokens gives every question
// the hidden state of the one-forward run; the pieces are whole samples, re-padded.
TEST_P(PackingTest, ForwardTokenBudgetGivesTheSameHiddenStates) {
  const Family family = family_named(GetParam());
  auto model = family.load();
  const data::Batch batch =
      data::collate_samples(samples_of(family, {{3, 2, 4}, {0, 4, 4}, {2, 0, 0}, {5, 2, 2}}, 15),
                            family.pad_id, {true, 0});
  torch::NoGradGuard no_grad;
  model->eval();
  const auto pieces = data::split_by_tokens(batch, 80);
  EXPECT_GE(pieces.size(), 2u);
  for (const auto& piece : pieces)
    EXPECT_TRUE(piece.num_rows() * piece.seq_len <= 80 || piece.sample_keys.size() == 1);
  model->reset_counters();
  const torch::Tensor whole = hidden_at_batch(*model, batch, 0);
  const int64_t whole_tokens = model->counters().decoder_tokens;
  model->reset_counters();
  const torch::Tensor split = hidden_at_batch(*model, batch, 80);
  EXPECT_LE((whole - split).abs().max().item<double>(), 1e-5);
  EXPECT_LT(model->counters().decoder_tokens, whole_tokens) << "less padding in smaller forwards";
}

INSTANTIATE_TEST_SUITE_P(Families, PackingTest, ::testing::ValuesIn(golden_families()));

// The layout itself: shared tokens once, branches numbered from 2 in each row, query positions at
// the end of each branch, left padding, and the budget's split repeating the shared tokens.
TEST(PackingLayout, RowsBranchesAndPositions) {
  auto question = [](std::vector<int64_t> ids, data::QuestionKind kind) {
    data::PreparedSample::Question q;
    q.ids = std::move(ids);
    q.query_position = static_cast<int64_t>(q.ids.size()) - 1;
    q.sequence.kind = kind;
    return q;
  };
  data::PreparedSample first, second;
  first.questions = {question({1, 2, 3, 7, 8}, data::QuestionKind::kOverall),
                     question({1, 2, 3, 9}, data::QuestionKind::kElement),
                     question({1, 2, 4, 5, 6}, data::QuestionKind::kElement)};
  second.questions = {question({1, 5}, data::QuestionKind::kOverall)};
  const data::Batch batch = data::collate_samples({first, second}, 0, {true, 0});
  // Row 0: shared {1, 2}, branches {3, 7, 8} {3, 9} {4, 5, 6}; row 1: the single question as is.
  ASSERT_EQ(batch.num_rows(), 2);
  ASSERT_EQ(batch.seq_len, 10);
  EXPECT_EQ(std::vector<int64_t>(batch.input_ids.begin(), batch.input_ids.begin() + 10),
            (std::vector<int64_t>{1, 2, 3, 7, 8, 3, 9, 4, 5, 6}));
  EXPECT_EQ(std::vector<int64_t>(batch.attention_mask.begin(), batch.attention_mask.begin() + 10),
            (std::vector<int64_t>{1, 1, 2, 2, 2, 3, 3, 4, 4, 4}));
  EXPECT_EQ(std::vector<int64_t>(batch.attention_mask.begin() + 10, batch.attention_mask.end()),
            (std::vector<int64_t>{0, 0, 0, 0, 0, 0, 0, 0, 1, 1}));
  std::vector<std::pair<int64_t, int64_t>> where;
  for (const auto& s : batch.sequences) where.emplace_back(s.row, s.query_position);
  EXPECT_EQ(where, (std::vector<std::pair<int64_t, int64_t>>{{0, 4}, {0, 6}, {0, 9}, {1, 9}}));
  // Identical questions still get one branch each (the shared part stops before the query token).
  data::PreparedSample twins;
  twins.questions = {question({1, 2, 3}, data::QuestionKind::kElement),
                     question({1, 2, 3}, data::QuestionKind::kElement)};
  const data::Batch t = data::collate_samples({twins}, 0, {true, 0});
  EXPECT_EQ(t.input_ids, (std::vector<int64_t>{1, 2, 3, 3}));
  EXPECT_EQ(t.attention_mask, (std::vector<int64_t>{1, 1, 2, 3}));
  // A budget of 7 tokens: {1, 2} + {3, 7, 8} + {3, 9} fits, {4, 5, 6} starts a row of its own.
  const data::Batch split = data::collate_samples({first}, 0, {true, 7});
  ASSERT_EQ(split.num_rows(), 2);
  EXPECT_EQ(std::vector<int64_t>(split.input_ids.begin() + 7, split.input_ids.end()),
            (std::vector<int64_t>{0, 0, 1, 2, 4, 5, 6}));
  EXPECT_EQ(split.sequences[2].row, 1);
  // Unpacked: one row per question.
  EXPECT_EQ(data::collate_samples({first, second}, 0, {false, 0}).num_rows(), 4);
  // Forwards of at most 12 tokens: sample 0 (1 row x 10) alone, sample 1 (1 row x 2) re-padded.
  const auto pieces = data::split_by_tokens(batch, 12);
  ASSERT_EQ(pieces.size(), 2u);
  EXPECT_EQ(pieces[0].input_ids,
            std::vector<int64_t>(batch.input_ids.begin(), batch.input_ids.begin() + 10));
  EXPECT_EQ(pieces[1].input_ids, (std::vector<int64_t>{1, 5}));
  EXPECT_EQ(pieces[1].attention_mask, (std::vector<int64_t>{1, 1}));
  ASSERT_EQ(pieces[1].sequences.size(), 1u);
  EXPECT_EQ(pieces[1].sequences[0].row, 0);
  EXPECT_EQ(pieces[1].sequences[0].sample, 0);
  EXPECT_EQ(pieces[1].sequences[0].query_position, 1);
  EXPECT_EQ(data::split_by_tokens(batch, 0).size(), 1u);
}

// Models refuse a row that goes back to shared tokens after a branch, naming the row.
TEST(PackingLayout, SharedTokensAfterABranchAreRefused) {
  const Family family = family_named("qwen2_vl");
  auto model = family.load();
  ModelInputs inputs;
  inputs.input_ids = torch::tensor({100, 101, 102, 103}, torch::kLong).view({1, 4});
  inputs.attention_mask = torch::tensor({1, 2, 1, 3}, torch::kLong).view({1, 4});
  torch::NoGradGuard no_grad;
  try {
    model->hidden_at(inputs, torch::tensor({0, 3}, torch::kLong).view({1, 2}));
    FAIL() << "accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("sequence 0: attention_mask marks position 2 as shared"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace tokenfocus::models
