// A batch: the contract between data/ and models/ + losses/ (torch-free). It holds the unique
// processed images of its samples and the token rows the decoder runs: with packing (the default,
// prompt.packing) one row per sample holds the tokens its questions share (the chat template up to
// and including the image, and any common start of the questions) once, followed by each
// question's remaining tokens as a branch; without packing every question is a row of its own. The
// vision tower runs once per image either way.
//
// attention_mask says what each token is: 0 = padding, 1 = shared, k >= 2 = branch k of its row. A
// branch token attends causally to the shared tokens and its own branch only (models/packed_row.h),
// and its position ids continue from the end of the shared tokens as in the question's own
// sequence, so every question's logits are those of its own sequence.
//
// Rows are LEFT-padded with the tokenizer's <|endoftext|> id: every row then ends with the
// assistant prefix of its last question, and the decoder sees no pad token between a prompt and the
// position it reads. Each question's query position (the last token of its branch, whose hidden
// state predicts the first answer token) is in `sequences`.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace tokenfocus::data {

enum class QuestionKind { kOverall, kElement };

struct BatchImage {
  std::vector<float> pixel_values;  // row-major over shape (see ProcessedImage)
  std::vector<int64_t> shape;
  std::array<int64_t, 3> grid_thw{0, 0, 0};  // Qwen family; zeros otherwise
};

struct BatchSequence {
  int64_t sample = 0;  // index into Batch::sample_keys
  int64_t image = -1;  // index into Batch::images, -1 = text-only
  QuestionKind kind = QuestionKind::kOverall;
  int64_t element = -1;        // element index within the record, -1 for the overall question
  int64_t row = 0;             // the row of input_ids holding the question
  int64_t query_position = 0;  // in that row, PADDED
  int64_t target_token = -1;   // label token id of the target (-1 when unknown, e.g. test)
  // Over the question's label set (soft: annotators' histogram; hard: one-hot); empty when unknown.
  std::vector<float> target_distribution;
  double target_value = 0;  // MOS or element label mean; NaN when unknown
  // Weight in the loss's weighted means: the record's (pseudo-labels) times the element's (EvalMuse
  // flags, pseudo-label confidence); 1 for ordinary training records.
  double weight = 1;
};

struct Batch {
  std::vector<std::string> sample_keys;  // img_path of each sample, in request order
  std::vector<int64_t> sample_records;   // index of each sample's record in the dataset
  std::vector<BatchImage> images;        // one per sample with an image
  // The questions: overall question of sample 0, its elements, sample 1, ...
  std::vector<BatchSequence> sequences;
  int64_t seq_len = 0;
  std::vector<int64_t> input_ids;       // [rows × seq_len], LEFT-padded with pad_id
  std::vector<int64_t> attention_mask;  // same shape: 0 = padding, 1 = shared, k >= 2 = branch k

  int64_t num_sequences() const { return static_cast<int64_t>(sequences.size()); }  // questions
  int64_t num_rows() const {
    return seq_len > 0 ? static_cast<int64_t>(input_ids.size()) / seq_len : 0;
  }
};

}  // namespace tokenfocus::data
