// data::Batch (torch-free) → the tensors a backbone takes, and the query positions of its
// sequences for Backbone::hidden_at.
#pragma once

#include <torch/torch.h>

#include "data/batch.h"
#include "models/backbone.h"

namespace tokenfocus::models {

// input_ids / attention_mask [rows,S] (packed rows keep their branch values); image_of_sequence
// [rows] from the image of the questions in each row;
// pixel_values in image order (undefined when the batch has no image):
//   Qwen family (images of [patches, width]): the patch rows concatenated, image_grid_thw
//   [n_img,3];
//   InternVL (images of [tiles, 3, S, S]): the tiles concatenated, [T,3,S,S], and image_grid_thw
//   holding InternVL's image_flags [T] (1 = a real tile).
// UserError when the batch is inconsistent (wrong buffer sizes, images of different layouts or
// sizes, a bad image or row index, a row with no question or questions about two images).
ModelInputs to_model_inputs(const data::Batch& batch);

// [Q,2] int64 rows (row, query_position), one per question in batch order, for hidden_at.
torch::Tensor query_positions(const data::Batch& batch);

// model.hidden_at at every question of `batch`, on the model's device, in forwards of at most
// `forward_tokens` padded tokens (data/batch_split.h; 0 = one forward): [Q,H] in question order.
torch::Tensor hidden_at_batch(Backbone& model, const data::Batch& batch, int64_t forward_tokens);

}  // namespace tokenfocus::models
