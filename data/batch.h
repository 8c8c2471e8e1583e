// A batch: the contract between data/ and models/ + losses/ (torch-free). It holds the unique
// processed images of its samples and one token sequence per question: the overall question of
// every sample and, optionally, one yes/no question per prompt element. The questions of a sample
// share its image, so the vision tower runs once per image.
//
// Sequences are LEFT-padded with the tokenizer's <|endoftext|> id: every row then ends with its
// assistant prefix, so the query position (the last real token, whose hidden state predicts the
// first answer token) is seq_len - 1 for every row, as in the models' left-padded golden batches,
// and the decoder sees no pad token between the prompt and the position it reads.
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
  int64_t query_position = 0;  // in the PADDED sequence
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
  std::vector<BatchSequence>
      sequences;  // overall question of sample 0, its elements, sample 1, ...
  int64_t seq_len = 0;
  std::vector<int64_t> input_ids;       // [sequences × seq_len], LEFT-padded with pad_id
  std::vector<int64_t> attention_mask;  // same shape, 1 = real token

  int64_t num_sequences() const { return static_cast<int64_t>(sequences.size()); }
};

}  // namespace tokenfocus::data
