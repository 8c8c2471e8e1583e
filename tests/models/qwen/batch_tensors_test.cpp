// data::Batch → ModelInputs: a batch whose questions share images gives the same hidden states as
// the golden batch fed directly.
#include <gtest/gtest.h>

#include "common/error.h"
#include "golden_cases.h"
#include "models/batch_tensors.h"

namespace tokenfocus::models::testing {
namespace {

data::Batch batch_from_case(const std::map<std::string, torch::Tensor>& tensors,
                            const std::vector<int64_t>& rows) {
  data::Batch batch;
  const torch::Tensor ids = tensors.at("input_ids"), mask = tensors.at("attention_mask");
  const torch::Tensor grid = tensors.at("image_grid_thw"),
                      pixels = tensors.at("pixel_values").contiguous();
  batch.seq_len = ids.size(1);
  int64_t offset = 0;
  for (int64_t i = 0; i < grid.size(0); ++i) {
    data::BatchImage image;
    const int64_t count = grid[i].prod().item<int64_t>();
    image.shape = {count, pixels.size(1)};
    image.grid_thw = {grid[i][0].item<int64_t>(), grid[i][1].item<int64_t>(),
                      grid[i][2].item<int64_t>()};
    const float* begin = pixels.data_ptr<float>() + offset * pixels.size(1);
    image.pixel_values.assign(begin, begin + count * pixels.size(1));
    offset += count;
    batch.images.push_back(image);
  }
  for (int64_t row : rows) {
    data::BatchSequence sequence;
    sequence.image = row;
    sequence.row = static_cast<int64_t>(batch.sequences.size());
    sequence.query_position = batch.seq_len - 1;
    batch.sequences.push_back(sequence);
    for (int64_t s = 0; s < batch.seq_len; ++s) {
      batch.input_ids.push_back(ids[row][s].item<int64_t>());
      batch.attention_mask.push_back(mask[row][s].item<int64_t>());
    }
  }
  return batch;
}

TEST(BatchTensors, SharedImagesGiveTheGoldenHiddenStates) {
  const auto tensors = read_case(family_dir("qwen2_vl") + "/case_batch2_leftpad.safetensors");
  const data::Batch batch = batch_from_case(tensors, {0, 1, 1, 0});
  const ModelInputs inputs = to_model_inputs(batch);
  EXPECT_TRUE(torch::equal(inputs.pixel_values, tensors.at("pixel_values")));
  EXPECT_TRUE(torch::equal(inputs.image_grid_thw, tensors.at("image_grid_thw")));
  EXPECT_TRUE(torch::equal(inputs.image_of_sequence, torch::tensor({0, 1, 1, 0}, torch::kLong)));
  torch::NoGradGuard no_grad;
  auto backbone = golden_backbone("qwen2_vl");
  const torch::Tensor hidden = backbone->hidden_at(inputs, query_positions(batch));
  const int64_t last = tensors.at("input_ids").size(1) - 1;
  const torch::Tensor golden = tensors.at("text_hidden_states")[-1].select(1, last);  // [2,H]
  EXPECT_LE(max_abs_diff(hidden, golden.index_select(0, torch::tensor({0, 1, 1, 0}, torch::kLong))),
            1e-4);
}

TEST(BatchTensors, RejectsInconsistentBatches) {
  const auto tensors = read_case(family_dir("qwen2_vl") + "/case_batch2_leftpad.safetensors");
  data::Batch batch = batch_from_case(tensors, {0, 1});
  batch.sequences[1].image = 5;
  EXPECT_THROW(to_model_inputs(batch), UserError);
  batch = batch_from_case(tensors, {0, 1});
  batch.input_ids.pop_back();
  EXPECT_THROW(to_model_inputs(batch), UserError);
  batch = batch_from_case(tensors, {0, 1});
  batch.images[0].grid_thw[1] = 2;
  EXPECT_THROW(to_model_inputs(batch), UserError);
  // Rows: a question outside them, one row asked about two images, a row with no question.
  auto message = [](const data::Batch& b) {
    try {
      to_model_inputs(b);
    } catch (const UserError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  batch = batch_from_case(tensors, {0, 1});
  batch.sequences[1].row = 2;
  EXPECT_EQ(message(batch), "batch: sequence 1 is in row 2 of 2");
  batch.sequences[1].row = 0;
  EXPECT_EQ(message(batch), "batch: row 0 holds questions about images 0 and 1");
  batch.sequences[1].image = 0;
  EXPECT_EQ(message(batch), "batch: row 1 holds no question");
}

}  // namespace
}  // namespace tokenfocus::models::testing
