// get_rope_index beyond the golden cases (those check it exactly): several images in one sequence,
// the explicit image_of_sequence mapping, text after images, and bad mappings.
#include <gtest/gtest.h>

#include "common/error.h"
#include "models/mrope.h"

namespace tokenfocus::models::testing {
namespace {

constexpr int64_t kStart = 499, kEnd = 500, kPad = 501;

MropeTokens tokens() {
  MropeTokens t;
  t.image_token_id = kPad;
  t.vision_start_token_id = kStart;
  t.spatial_merge_size = 2;
  return t;
}

TEST(RopeIndex, TwoImagesInOneSequenceFollowHuggingFace) {
  // text(2) <vs> img 1x4x4 (4 tokens, 2x2 merged) <ve> <vs> img 1x2x4 (2 tokens, 1x2) <ve> text(1)
  const torch::Tensor ids =
      torch::tensor(std::vector<int64_t>{7, 8, kStart, kPad, kPad, kPad, kPad, kEnd, kStart, kPad, kPad, kEnd, 9},
                    torch::kLong)
          .unsqueeze(0);
  const torch::Tensor grid = torch::tensor({1, 4, 4, 1, 2, 4}, torch::kLong).view({2, 3});
  const RopeIndex rope = get_rope_index(ids, torch::ones_like(ids), grid, {}, tokens());
  // Worked by hand from HF's loop: text 0..2, image at base 3 with (t,h,w) offsets, text resumes at
  // max + 1 = 5 (<ve> <vs>: 5, 6), second image at base 7, text resumes at 9.
  const torch::Tensor expected = torch::tensor({0, 1, 2, 3, 3, 3, 3, 5, 6, 7, 7, 9, 10,   // t
                                                0, 1, 2, 3, 3, 4, 4, 5, 6, 7, 7, 9, 10,   // h
                                                0, 1, 2, 3, 4, 3, 4, 5, 6, 7, 8, 9, 10},  // w
                                               torch::kLong)
                                     .view({3, 1, 13});
  EXPECT_TRUE(torch::equal(rope.position_ids, expected)) << rope.position_ids;
  EXPECT_EQ(rope.rope_deltas.item<int64_t>(), 11 - 13);
}

TEST(RopeIndex, ImageOfSequenceReusesAnImage) {
  const torch::Tensor row = torch::tensor(std::vector<int64_t>{kStart, kPad, kPad, kPad, kPad, kEnd, 9}, torch::kLong);
  const torch::Tensor ids = torch::stack({row, row});
  const torch::Tensor grid = torch::tensor({1, 4, 4}, torch::kLong).view({1, 3});
  const RopeIndex shared = get_rope_index(ids, torch::ones_like(ids), grid,
                                          torch::tensor({0, 0}, torch::kLong), tokens());
  EXPECT_TRUE(torch::equal(shared.position_ids.select(1, 0), shared.position_ids.select(1, 1)));
  // Without the mapping the second block would need a second image.
  EXPECT_THROW(get_rope_index(ids, torch::ones_like(ids), grid, {}, tokens()), UserError);
  // A mapping that says "no image" for a sequence holding one is refused.
  EXPECT_THROW(get_rope_index(ids, torch::ones_like(ids), grid,
                              torch::tensor({0, -1}, torch::kLong), tokens()),
               UserError);
}

TEST(RopeIndex, TextOnlyCountsRealTokens) {
  const torch::Tensor ids = torch::tensor({0, 0, 5, 6, 5, 6, 7, 8}, torch::kLong).view({2, 4});
  const torch::Tensor mask = torch::tensor({0, 0, 1, 1, 1, 1, 1, 1}, torch::kLong).view({2, 4});
  const RopeIndex rope = get_rope_index(ids, mask, {}, {}, tokens());
  EXPECT_TRUE(torch::equal(rope.position_ids[2],
                           torch::tensor({1, 1, 0, 1, 0, 1, 2, 3}, torch::kLong).view({2, 4})));
  EXPECT_TRUE(torch::equal(rope.rope_deltas, torch::tensor({-2, 0}, torch::kLong).view({2, 1})));
}

}  // namespace
}  // namespace tokenfocus::models::testing
