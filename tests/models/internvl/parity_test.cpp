// Forward parity with OpenGVLab's InternVLChatModel on every golden case (fp32, eval). Tolerances
// (README of the golden folders): 1e-4 absolute for vision states, projector output and logits /
// hidden states at real (attention_mask == 1) positions — fp32-vs-fp64 recomputation of the
// reference itself differs by up to 4.5e-6, and op order differs here (conv as matmul, fused
// scale); 1e-5 for the loss (reference-vs-fp64 5e-7).
#include <gtest/gtest.h>

#include <cstdio>

#include "internvl_golden.h"

namespace tokenfocus::models::testing {
namespace {

class InternVLParity : public ::testing::TestWithParam<InternVLCase> {};

TEST_P(InternVLParity, MatchesOpenGVLab) {
  const InternVLCase& c = GetParam();
  torch::NoGradGuard no_grad;
  auto backbone = internvl_backbone(c.family);
  const auto tensors = read_tensors(c.path);
  const ModelInputs inputs = internvl_case_inputs(tensors);

  // Vision tower, pixel shuffle and projector on every tile (dummy tiles included).
  InternVLVisionTrace trace;
  const torch::Tensor tiles = backbone->tile_features(inputs.pixel_values, &trace);
  const torch::Tensor vision_states = tensors.at("vision_hidden_states");
  ASSERT_EQ(static_cast<int64_t>(trace.vision_hidden_states.size()), vision_states.size(0));
  double vision_error = 0;
  for (size_t k = 0; k < trace.vision_hidden_states.size(); ++k)
    vision_error = std::max(vision_error, max_abs(trace.vision_hidden_states[k],
                                                  vision_states[static_cast<int64_t>(k)]));
  const double shuffle_error = max_abs(trace.pixel_shuffle, tensors.at("vision_pixel_shuffle"));
  const double tiles_error = max_abs(tiles, tensors.at("vit_embeds_all_tiles"));

  const FullForwardOutputs out = backbone->forward_full(inputs);
  const torch::Tensor expected_embeds = tensors.at("vit_embeds");
  ASSERT_EQ(out.image_embeds.size(0), expected_embeds.size(0) * expected_embeds.size(1));
  const double embeds_error =
      max_abs(out.image_embeds, expected_embeds.reshape({-1, expected_embeds.size(2)}));

  const torch::Tensor valid = tensors.at("attention_mask") == 1;
  const torch::Tensor logits = tensors.at("logits");
  ASSERT_EQ(out.logits.sizes(), logits.sizes());
  const double logits_error = max_abs(out.logits.index({valid}), logits.index({valid}));
  const torch::Tensor text_states = tensors.at("text_hidden_states");
  ASSERT_EQ(static_cast<int64_t>(out.hidden_states.size()), text_states.size(0));
  double hidden_error = 0;
  for (size_t k = 0; k < out.hidden_states.size(); ++k)
    hidden_error =
        std::max(hidden_error, max_abs(out.hidden_states[k].index({valid}),
                                       text_states[static_cast<int64_t>(k)].index({valid})));
  const double loss = shifted_cross_entropy(out.logits, tensors.at("labels")).item<double>();
  const double loss_error = std::abs(loss - tensors.at("loss").item<double>());

  std::printf(
      "[%s/%s] vision %.2e shuffle %.2e tiles %.2e vit_embeds %.2e hidden %.2e "
      "logits %.2e loss %.2e\n",
      c.family.c_str(), c.name.c_str(), vision_error, shuffle_error, tiles_error, embeds_error,
      hidden_error, logits_error, loss_error);
  EXPECT_LE(vision_error, 1e-4);
  EXPECT_LE(shuffle_error, 1e-4);
  EXPECT_LE(tiles_error, 1e-4);
  EXPECT_LE(embeds_error, 1e-4);
  EXPECT_LE(hidden_error, 1e-4);
  EXPECT_LE(logits_error, 1e-4);
  EXPECT_LE(loss_error, 1e-5);
}

TEST_P(InternVLParity, HiddenAtEqualsFullForwardAtRealPositions) {
  const InternVLCase& c = GetParam();
  torch::NoGradGuard no_grad;
  auto backbone = internvl_backbone(c.family);
  const auto tensors = read_tensors(c.path);
  const ModelInputs inputs = internvl_case_inputs(tensors);
  const FullForwardOutputs full = backbone->forward_full(inputs);
  // Every real position whose next label is an answer token: what the focus head reads.
  const torch::Tensor positions =
      torch::nonzero(tensors.at("labels") != -100) - torch::tensor({0, 1});
  const torch::Tensor hidden = backbone->hidden_at(inputs, positions);
  const torch::Tensor expected =
      full.hidden_states.back().index({positions.select(1, 0), positions.select(1, 1)});
  EXPECT_LE(max_abs(hidden, expected), 1e-5);
  // The focus head over a few vocabulary rows is those columns of the full logits.
  const torch::Tensor rows = torch::tensor({1, 17, 498});
  const torch::Tensor focus = backbone->focus_logits(hidden, rows);
  const torch::Tensor from_full =
      full.logits.index({positions.select(1, 0), positions.select(1, 1)}).index_select(1, rows);
  EXPECT_LE(max_abs(focus, from_full), 1e-4);
}

std::string case_name(const ::testing::TestParamInfo<InternVLCase>& info) {
  return info.param.family + "_" + info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Golden, InternVLParity, ::testing::ValuesIn(internvl_cases()), case_name);

TEST(InternVLGolden, EveryFamilyHasCases) {
  for (const std::string& family : internvl_families()) {
    size_t count = 0;
    for (const auto& c : internvl_cases()) count += c.family == family;
    EXPECT_GE(count, 5u) << family;
  }
}

}  // namespace
}  // namespace tokenfocus::models::testing
