// data::Batch (torch-free) → the tensors a backbone takes, and the query positions of its
// sequences for Backbone::hidden_at.
#pragma once

#include <torch/torch.h>

#include "data/batch.h"
#include "models/backbone.h"

namespace tokenfocus::models {

// input_ids / attention_mask [B,S]; image_of_sequence [B] from each sequence's image index;
// pixel_values in image order (undefined when the batch has no image):
//   Qwen family (images of [patches, width]): the patch rows concatenated, image_grid_thw
//   [n_img,3];
//   InternVL (images of [tiles, 3, S, S]): the tiles concatenated, [T,3,S,S], and image_grid_thw
//   holding InternVL's image_flags [T] (1 = a real tile).
// UserError when the batch is inconsistent (wrong buffer sizes, images of different layouts or
// sizes, a bad image index).
ModelInputs to_model_inputs(const data::Batch& batch);

// [B,2] int64 rows (sequence, query_position) for hidden_at.
torch::Tensor query_positions(const data::Batch& batch);

}  // namespace tokenfocus::models
