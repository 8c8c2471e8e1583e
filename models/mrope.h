// Multimodal rotary position ids (M-RoPE), computed as Hugging Face's Qwen2-VL get_rope_index does:
// text tokens advance all three ids together; the tokens of an image get (t, h, w) ids in units of
// merged patches, offset by the text before them; text after an image continues from the largest
// id.
#pragma once

#include <cstdint>
#include <utility>

#include <torch/torch.h>

#include "models/packed_row.h"

namespace tokenfocus::models {

struct MropeTokens {
  int64_t image_token_id = 0;
  int64_t vision_start_token_id = 0;
  int64_t spatial_merge_size = 2;
};

struct RopeIndex {
  torch::Tensor position_ids;  // [3,B,S] int64; padded positions hold 1
  torch::Tensor rope_deltas;   // [B,1] int64: max id + 1 - S (offset of later generated tokens)
};

// A packed row (attention_mask values >= 2, data/batch.h) gets its shared tokens' ids as above and
// each branch's ids continuing from the end of the shared tokens, as the branch's own sequence
// would have them.
// input_ids / attention_mask [B,S]; image_grid_thw [n_img,3] or undefined (text only).
// image_of_sequence [B] (or undefined): the image each sequence shows, -1 = none; undefined =
// the images are taken in order by the image blocks of the batch (Hugging Face's convention).
RopeIndex get_rope_index(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                         const torch::Tensor& image_grid_thw,
                         const torch::Tensor& image_of_sequence, const MropeTokens& tokens);

}  // namespace tokenfocus::models
