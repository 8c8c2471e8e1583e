#include "data/collate.h"

#include <algorithm>

namespace tokenfocus::data {
namespace {

// One row of a batch before padding: its ids and mask values, the questions it holds.
struct PendingRow {
  std::vector<int64_t> ids, mask;
  std::vector<BatchSequence> questions;  // query_position unpadded
};

// How many leading tokens all of a sample's questions share, capped so that every question keeps
// at least its query token in its own branch.
size_t shared_prefix_length(const std::vector<PreparedSample::Question>& questions) {
  size_t length = questions.front().ids.size();
  for (const auto& q : questions) {
    length = std::min(length, static_cast<size_t>(q.query_position));
    const auto& first = questions.front().ids;
    size_t i = 0;
    while (i < length && q.ids[i] == first[i]) ++i;
    length = i;
  }
  return length;
}

// A sample's rows: one per question unpacked; packed, its shared tokens then as many branches as
// fit in `row_tokens` (each row holds at least one).
std::vector<PendingRow> sample_rows(std::vector<PreparedSample::Question> questions, bool packing,
                                    int64_t row_tokens) {
  std::vector<PendingRow> rows;
  if (questions.empty()) return rows;
  if (!packing || questions.size() == 1) {
    for (auto& q : questions) {
      PendingRow row;
      row.ids = std::move(q.ids);
      row.mask.assign(row.ids.size(), 1);
      q.sequence.query_position = q.query_position;
      row.questions.push_back(std::move(q.sequence));
      rows.push_back(std::move(row));
    }
    return rows;
  }
  const size_t prefix = shared_prefix_length(questions);
  const auto& first = questions.front().ids;
  for (auto& q : questions) {
    const size_t branch = q.ids.size() - prefix;
    const bool fits =
        !rows.empty() &&
        (row_tokens <= 0 || static_cast<int64_t>(rows.back().ids.size() + branch) <= row_tokens);
    if (!fits) {
      PendingRow row;
      row.ids.assign(first.begin(), first.begin() + static_cast<std::ptrdiff_t>(prefix));
      row.mask.assign(prefix, 1);
      rows.push_back(std::move(row));
    }
    PendingRow& row = rows.back();
    const int64_t start = static_cast<int64_t>(row.ids.size());
    const int64_t value = static_cast<int64_t>(row.questions.size()) + 2;  // branches are 2, 3, ...
    row.ids.insert(row.ids.end(), q.ids.begin() + static_cast<std::ptrdiff_t>(prefix), q.ids.end());
    row.mask.insert(row.mask.end(), branch, value);
    q.sequence.query_position = start + q.query_position - static_cast<int64_t>(prefix);
    row.questions.push_back(std::move(q.sequence));
  }
  return rows;
}

}  // namespace

Batch collate_samples(std::vector<PreparedSample> samples, int64_t pad_id,
                      const PackingOptions& packing) {
  Batch batch;
  std::vector<PendingRow> rows;
  for (auto& sample : samples) {
    const int64_t index = static_cast<int64_t>(batch.sample_keys.size());
    batch.sample_keys.push_back(std::move(sample.key));
    batch.sample_records.push_back(sample.record_index);
    int64_t image = -1;  // text-only
    if (!sample.image.shape.empty()) {
      image = static_cast<int64_t>(batch.images.size());
      batch.images.push_back(std::move(sample.image));
    }
    for (auto& q : sample.questions) {
      q.sequence.sample = index;
      q.sequence.image = image;
    }
    for (auto& row :
         sample_rows(std::move(sample.questions), packing.enabled, packing.packed_row_tokens))
      rows.push_back(std::move(row));
  }
  // Left padding: every row ends at seq_len - 1, so real tokens stay contiguous up to the queries.
  for (const auto& row : rows)
    batch.seq_len = std::max<int64_t>(batch.seq_len, static_cast<int64_t>(row.ids.size()));
  batch.input_ids.assign(rows.size() * static_cast<size_t>(batch.seq_len), pad_id);
  batch.attention_mask.assign(rows.size() * static_cast<size_t>(batch.seq_len), 0);
  for (size_t r = 0; r < rows.size(); ++r) {
    auto& row = rows[r];
    const int64_t pad = batch.seq_len - static_cast<int64_t>(row.ids.size());
    const auto at = static_cast<std::ptrdiff_t>(r * static_cast<size_t>(batch.seq_len) +
                                                static_cast<size_t>(pad));
    std::copy(row.ids.begin(), row.ids.end(), batch.input_ids.begin() + at);
    std::copy(row.mask.begin(), row.mask.end(), batch.attention_mask.begin() + at);
    for (auto& question : row.questions) {
      question.row = static_cast<int64_t>(r);
      question.query_position += pad;
      batch.sequences.push_back(std::move(question));
    }
  }
  return batch;
}

}  // namespace tokenfocus::data
