// Prepared samples → one batch (data/batch.h): each sample's rows, left-padded together. Packed
// (the default), a sample's questions are branches of one row after the tokens they all share:
// the longest common start of their token ids (the chat template up to and including the image,
// and the words the questions begin with), capped so that every branch keeps its query token.
// The rows are exact: each question's logits are those of its own row (docs/training.md#packing).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config/sections/prompt.h"
#include "data/batch.h"

namespace tokenfocus::data {

// One sample's processed image and its question sequences before padding: what a worker thread
// prepares ahead of the step (or of a serving batch); collate_samples pads several into a Batch.
// Sequence ids are unpadded; `sample` / `image` / `row` indices are set by collate. A sample with
// an empty `image.shape` is text-only.
struct PreparedSample {
  std::string key;            // Batch::sample_keys entry (img_path)
  int64_t record_index = -1;  // Batch::sample_records entry
  BatchImage image;
  struct Question {
    BatchSequence sequence;
    std::vector<int64_t> ids;
    int64_t query_position = 0;  // unpadded
  };
  std::vector<Question> questions;
};

struct PackingOptions {
  bool enabled = config::PromptConfig{}.packing;  // off: one row per question
  // > 0: a packed row longer than this many tokens splits its sample's questions over several
  // rows, each repeating the shared tokens (a row always holds at least one question).
  int64_t packed_row_tokens = config::PromptConfig{}.packed_row_tokens;
};

// The batch of `samples` in order: sample, image and row indices set, rows left-padded with
// `pad_id`, every question's query position in its padded row.
Batch collate_samples(std::vector<PreparedSample> samples, int64_t pad_id,
                      const PackingOptions& packing);

}  // namespace tokenfocus::data
