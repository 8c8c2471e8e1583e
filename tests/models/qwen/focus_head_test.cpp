// The focus head: hidden states only at query positions (no LM head anywhere), logits over chosen
// vocabulary rows, and several sequences sharing one image's embeddings.
#include <gtest/gtest.h>

#include "common/error.h"
#include "golden_cases.h"
#include "models/qwen2_vl_model.h"

namespace tokenfocus::models::testing {
namespace {

class FocusHeadTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FocusHeadTest, HiddenAtEqualsFullForwardAtThosePositions) {
  const std::string family = GetParam();
  const auto tensors = read_case(family_dir(family) + "/case_batch2_leftpad.safetensors");
  auto backbone = golden_backbone(family);
  torch::NoGradGuard no_grad;
  const ModelInputs inputs = case_inputs(tensors);
  const FullForwardOutputs full = backbone->forward_full(inputs);
  const int64_t last = inputs.input_ids.size(1) - 1;
  // Several queries per row, out of order, one early (the decoder stops at the last queried one).
  const torch::Tensor positions =
      torch::tensor(std::vector<int64_t>{1, last, 0, last, 1, 20, 0, 25}, torch::kLong)
          .view({4, 2});
  const torch::Tensor hidden = backbone->hidden_at(inputs, positions);
  const torch::Tensor expected =
      full.hidden_states.back().index({positions.select(1, 0), positions.select(1, 1)});
  EXPECT_LE(max_abs_diff(hidden, expected), 1e-5);
  // Early stop: only positions <= 20 queried.
  const torch::Tensor early = torch::tensor({0, 20, 1, 12}, torch::kLong).view({2, 2});
  EXPECT_LE(max_abs_diff(backbone->hidden_at(inputs, early),
                         full.hidden_states.back().index({early.select(1, 0), early.select(1, 1)})),
            1e-5);
  // Logits over a few vocabulary rows equal those columns of the full logits, and of HF's.
  const torch::Tensor rows = torch::tensor({17, 3, 498, 101}, torch::kLong);
  const torch::Tensor focus = backbone->focus_logits(hidden, rows);
  const torch::Tensor full_rows =
      full.logits.index({positions.select(1, 0), positions.select(1, 1)}).index_select(1, rows);
  EXPECT_LE(max_abs_diff(focus, full_rows), 1e-5);
  const torch::Tensor hf_rows = tensors.at("logits")
                                    .index({positions.select(1, 0), positions.select(1, 1)})
                                    .index_select(1, rows);
  EXPECT_LE(max_abs_diff(focus, hf_rows), 1e-4);
  EXPECT_EQ(backbone->focus_logits(hidden).size(1), 512);
}

TEST_P(FocusHeadTest, SequencesShareOneImage) {
  const std::string family = GetParam();
  const auto tensors = read_case(family_dir(family) + "/case_batch2_leftpad.safetensors");
  auto backbone = golden_backbone(family);
  torch::NoGradGuard no_grad;
  // Rows 0, 1, 0 again; images stay the batch's two: row 2 reuses image 0's embeddings.
  const torch::Tensor pick = torch::tensor({0, 1, 0}, torch::kLong);
  ModelInputs inputs = case_inputs(tensors);
  inputs.input_ids = inputs.input_ids.index_select(0, pick);
  inputs.attention_mask = inputs.attention_mask.index_select(0, pick);
  inputs.image_of_sequence = pick;
  backbone->reset_counters();
  const FullForwardOutputs out = backbone->forward_full(inputs);
  // The tower ran once, over the batch's two images, not once per sequence.
  EXPECT_EQ(backbone->counters().vision_calls, 1);
  EXPECT_EQ(backbone->counters().vision_images, 2);
  const torch::Tensor real = tensors.at("attention_mask")[0] == 1;
  const torch::Tensor hf = tensors.at("logits")[0].index({real});
  EXPECT_LE(max_abs_diff(out.logits[2].index({real}), hf), 1e-4);
  EXPECT_LE(max_abs_diff(out.logits[0].index({real}), hf), 1e-4);
  EXPECT_TRUE(torch::equal(out.position_ids.select(1, 2), tensors.at("position_ids").select(1, 0)));
  EXPECT_EQ(out.image_embeds.size(0), tensors.at("image_embeds").size(0));

  // A sequence whose image-pad count does not fit its image is refused.
  inputs.image_of_sequence = torch::tensor({0, 1, -1}, torch::kLong);
  EXPECT_THROW(backbone->forward_full(inputs), UserError);
}

TEST_P(FocusHeadTest, RejectsPositionsOutsideTheBatch) {
  auto backbone = golden_backbone(GetParam());
  const auto tensors = read_case(family_dir(GetParam()) + "/case_1x4x4.safetensors");
  torch::NoGradGuard no_grad;
  EXPECT_THROW(
      backbone->hidden_at(case_inputs(tensors), torch::tensor({0, 999}, torch::kLong).view({1, 2})),
      UserError);
  EXPECT_THROW(
      backbone->hidden_at(case_inputs(tensors), torch::tensor({3, 0}, torch::kLong).view({1, 2})),
      UserError);
}

TEST_P(FocusHeadTest, TextOnlyBatchRuns) {
  auto backbone = golden_backbone(GetParam());
  torch::NoGradGuard no_grad;
  ModelInputs inputs;
  inputs.input_ids =
      torch::tensor({496, 496, 497, 10, 11, 12, 497, 13, 14, 15, 16, 17}, torch::kLong)
          .view({2, 6});
  inputs.attention_mask =
      torch::tensor({0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, torch::kLong).view({2, 6});
  const FullForwardOutputs out = backbone->forward_full(inputs);
  EXPECT_TRUE(
      torch::equal(out.position_ids[0][0], torch::tensor({1, 1, 0, 1, 2, 3}, torch::kLong)));
  EXPECT_TRUE(torch::equal(out.rope_deltas, torch::tensor({-2, 0}, torch::kLong).view({2, 1})));
  // Left padding must not change a sequence's result.
  ModelInputs alone;
  alone.input_ids = inputs.input_ids[0].narrow(0, 2, 4).unsqueeze(0);
  alone.attention_mask = torch::ones_like(alone.input_ids);
  const FullForwardOutputs single = backbone->forward_full(alone);
  EXPECT_LE(max_abs_diff(out.logits[0].narrow(0, 2, 4), single.logits[0]), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Golden, FocusHeadTest, ::testing::ValuesIn(qwen_families()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tokenfocus::models::testing
