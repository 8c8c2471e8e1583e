#include "models/batch_tensors.h"

#include <algorithm>
#include <vector>

#include "common/error.h"
#include "data/batch_split.h"

namespace tokenfocus::models {
namespace {

// InternVL: every image is [tiles, 3, S, S]; all tiles of the batch in one [T,3,S,S] tensor.
ModelInputs with_tiles(const data::Batch& batch, ModelInputs inputs) {
  const std::vector<int64_t>& first = batch.images[0].shape;
  int64_t tiles = 0;
  for (size_t i = 0; i < batch.images.size(); ++i) {
    const auto& image = batch.images[i];
    const auto& shape = image.shape;
    if (shape.size() != 4 || shape[1] != first[1] || shape[2] != first[2] || shape[3] != first[3] ||
        static_cast<int64_t>(image.pixel_values.size()) !=
            shape[0] * shape[1] * shape[2] * shape[3])
      throw_user_error("batch: image {} is not a [tiles, {}, {}, {}] tile stack", i, first[1],
                       first[2], first[3]);
    tiles += shape[0];
  }
  inputs.pixel_values = torch::empty({tiles, first[1], first[2], first[3]}, torch::kFloat);
  float* out = inputs.pixel_values.data_ptr<float>();
  for (const auto& image : batch.images)
    out = std::copy(image.pixel_values.begin(), image.pixel_values.end(), out);
  inputs.image_grid_thw = torch::ones({tiles}, torch::kLong);  // image_flags: every tile is real
  return inputs;
}

}  // namespace

ModelInputs to_model_inputs(const data::Batch& batch) {
  const int64_t rows = batch.num_rows(), seq = batch.seq_len;
  if (static_cast<int64_t>(batch.input_ids.size()) != rows * seq ||
      static_cast<int64_t>(batch.attention_mask.size()) != rows * seq)
    throw_user_error("batch: input_ids/attention_mask hold {}/{} ids, expected {} rows x {}",
                     batch.input_ids.size(), batch.attention_mask.size(), rows, seq);
  ModelInputs inputs;
  inputs.input_ids = torch::tensor(batch.input_ids, torch::kLong).view({rows, seq});
  inputs.attention_mask = torch::tensor(batch.attention_mask, torch::kLong).view({rows, seq});
  const int64_t images = static_cast<int64_t>(batch.images.size());
  // A row shows the image of the questions it holds (a packed row: one sample's).
  std::vector<int64_t> shown(static_cast<size_t>(rows), -2);
  for (int64_t q = 0; q < batch.num_sequences(); ++q) {
    const auto& question = batch.sequences[static_cast<size_t>(q)];
    if (question.row < 0 || question.row >= rows)
      throw_user_error("batch: sequence {} is in row {} of {}", q, question.row, rows);
    if (question.image < -1 || question.image >= images)
      throw_user_error("batch: sequence {} refers to image {} of {}", q, question.image, images);
    int64_t& image = shown[static_cast<size_t>(question.row)];
    if (image != -2 && image != question.image)
      throw_user_error("batch: row {} holds questions about images {} and {}", question.row, image,
                       question.image);
    image = question.image;
  }
  for (int64_t r = 0; r < rows; ++r)
    if (shown[static_cast<size_t>(r)] == -2) throw_user_error("batch: row {} holds no question", r);
  inputs.image_of_sequence = torch::tensor(shown, torch::kLong);
  if (images == 0) return inputs;

  if (batch.images[0].shape.size() == 4) return with_tiles(batch, std::move(inputs));
  int64_t patches = 0;
  const int64_t width = batch.images[0].shape.size() == 2 ? batch.images[0].shape[1] : -1;
  std::vector<int64_t> grid;
  for (int64_t i = 0; i < images; ++i) {
    const auto& image = batch.images[i];
    if (image.shape.size() != 2 || image.shape[1] != width ||
        static_cast<int64_t>(image.pixel_values.size()) != image.shape[0] * image.shape[1])
      throw_user_error("batch: image {} is not a [patches, {}] patch matrix", i, width);
    if (image.grid_thw[0] * image.grid_thw[1] * image.grid_thw[2] != image.shape[0])
      throw_user_error("batch: image {} has {} patches but grid {}x{}x{}", i, image.shape[0],
                       image.grid_thw[0], image.grid_thw[1], image.grid_thw[2]);
    patches += image.shape[0];
    grid.insert(grid.end(), image.grid_thw.begin(), image.grid_thw.end());
  }
  inputs.pixel_values = torch::empty({patches, width}, torch::kFloat);
  float* out = inputs.pixel_values.data_ptr<float>();
  for (const auto& image : batch.images)
    out = std::copy(image.pixel_values.begin(), image.pixel_values.end(), out);
  inputs.image_grid_thw = torch::tensor(grid, torch::kLong).view({images, 3});
  return inputs;
}

torch::Tensor query_positions(const data::Batch& batch) {
  std::vector<int64_t> flat;
  for (int64_t q = 0; q < batch.num_sequences(); ++q) {
    const auto& question = batch.sequences[static_cast<size_t>(q)];
    if (question.query_position < 0 || question.query_position >= batch.seq_len)
      throw_user_error("batch: sequence {} has query position {} outside [0, {})", q,
                       question.query_position, batch.seq_len);
    flat.push_back(question.row);
    flat.push_back(question.query_position);
  }
  return torch::tensor(flat, torch::kLong).view({-1, 2});
}

torch::Tensor hidden_at_batch(Backbone& model, const data::Batch& batch, int64_t forward_tokens) {
  const torch::Device device = model.lm_head_weight().device();
  if (forward_tokens <= 0)  // one forward, and no copy of the batch to split
    return model.hidden_at(to_model_inputs(batch).to(device), query_positions(batch).to(device));
  std::vector<torch::Tensor> parts;
  for (const data::Batch& piece : data::split_by_tokens(batch, forward_tokens))
    parts.push_back(
        model.hidden_at(to_model_inputs(piece).to(device), query_positions(piece).to(device)));
  return parts.size() == 1 ? parts.front() : torch::cat(parts, 0);
}

}  // namespace tokenfocus::models
