// data::Batch (torch-free) → the tensors a backbone takes, and the query positions of its
// sequences for Backbone::hidden_at.
#pragma once

#include <torch/torch.h>

#include "data/batch.h"
#include "models/backbone.h"

namespace tokenfocus::models {

// input_ids / attention_mask [B,S]; pixel_values = the batch's unique images' patch rows
// concatenated in image order with image_grid_thw [n_img,3] (undefined when the batch has no
// image); image_of_sequence [B] from each sequence's image index. UserError when the batch is
// inconsistent (wrong buffer sizes, images of different patch widths, a bad image index).
ModelInputs to_model_inputs(const data::Batch& batch);

// [B,2] int64 rows (sequence, query_position) for hidden_at.
torch::Tensor query_positions(const data::Batch& batch);

}  // namespace tokenfocus::models
