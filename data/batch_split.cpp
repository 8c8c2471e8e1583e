#include "data/batch_split.h"

#include <algorithm>
#include <map>

#include "common/error.h"

namespace tokenfocus::data {
namespace {

// The rows and questions of one sample (questions and rows of a sample are contiguous).
struct SampleSpan {
  int64_t first_question = 0, questions = 0;
  int64_t first_row = 0, rows = 0;
  int64_t longest = 0;  // real tokens of its longest row
};

int64_t real_length(const Batch& batch, int64_t row) {
  int64_t n = 0;
  for (int64_t s = 0; s < batch.seq_len; ++s)
    n += batch.attention_mask[static_cast<size_t>(row * batch.seq_len + s)] != 0;
  return n;
}

std::vector<SampleSpan> sample_spans(const Batch& batch) {
  std::vector<SampleSpan> spans;
  for (int64_t q = 0; q < batch.num_sequences(); ++q) {
    const BatchSequence& s = batch.sequences[static_cast<size_t>(q)];
    if (spans.empty() || s.sample != batch.sequences[static_cast<size_t>(q - 1)].sample) {
      SampleSpan span;
      span.first_question = q;
      span.first_row = s.row;
      spans.push_back(span);
    }
    SampleSpan& span = spans.back();
    ++span.questions;
    if (s.row < span.first_row || s.row > span.first_row + span.rows)
      throw_internal_error("split_by_tokens: the rows of sample {} are not contiguous", s.sample);
    span.rows = std::max(span.rows, s.row - span.first_row + 1);
  }
  for (auto& span : spans)
    for (int64_t r = span.first_row; r < span.first_row + span.rows; ++r)
      span.longest = std::max(span.longest, real_length(batch, r));
  return spans;
}

// The batch of spans [begin, end): its samples, images, rows (re-padded) and questions.
Batch piece(const Batch& batch, const std::vector<SampleSpan>& spans, size_t begin, size_t end) {
  Batch out;
  int64_t longest = 0;
  for (size_t i = begin; i < end; ++i) longest = std::max(longest, spans[i].longest);
  out.seq_len = longest;
  const int64_t shift = batch.seq_len - longest;  // left padding dropped from every row
  const int64_t first_row = spans[begin].first_row;
  const int64_t last_row = spans[end - 1].first_row + spans[end - 1].rows;
  for (int64_t r = first_row; r < last_row; ++r) {
    const auto row = batch.input_ids.begin() + static_cast<std::ptrdiff_t>(r * batch.seq_len);
    const auto mask = batch.attention_mask.begin() + static_cast<std::ptrdiff_t>(r * batch.seq_len);
    out.input_ids.insert(out.input_ids.end(), row + shift, row + batch.seq_len);
    out.attention_mask.insert(out.attention_mask.end(), mask + shift, mask + batch.seq_len);
  }
  std::map<int64_t, int64_t> images;  // batch image -> piece image
  std::map<int64_t, int64_t> samples;
  for (size_t i = begin; i < end; ++i)
    for (int64_t q = spans[i].first_question; q < spans[i].first_question + spans[i].questions;
         ++q) {
      BatchSequence s = batch.sequences[static_cast<size_t>(q)];
      if (!samples.count(s.sample)) {
        samples[s.sample] = static_cast<int64_t>(out.sample_keys.size());
        out.sample_keys.push_back(batch.sample_keys.at(static_cast<size_t>(s.sample)));
        out.sample_records.push_back(batch.sample_records.at(static_cast<size_t>(s.sample)));
      }
      if (s.image >= 0 && !images.count(s.image)) {
        images[s.image] = static_cast<int64_t>(out.images.size());
        out.images.push_back(batch.images.at(static_cast<size_t>(s.image)));
      }
      s.sample = samples[s.sample];
      s.image = s.image >= 0 ? images[s.image] : -1;
      s.row -= first_row;
      s.query_position -= shift;
      out.sequences.push_back(std::move(s));
    }
  return out;
}

}  // namespace

std::vector<Batch> split_by_tokens(const Batch& batch, int64_t max_tokens) {
  if (max_tokens <= 0 || batch.num_sequences() == 0) return {batch};
  const std::vector<SampleSpan> spans = sample_spans(batch);
  std::vector<Batch> pieces;
  size_t begin = 0;
  int64_t rows = 0, longest = 0;
  for (size_t i = 0; i < spans.size(); ++i) {
    const int64_t grown_rows = rows + spans[i].rows;
    const int64_t grown_longest = std::max(longest, spans[i].longest);
    if (i > begin && grown_rows * grown_longest > max_tokens) {
      pieces.push_back(piece(batch, spans, begin, i));
      begin = i;
      rows = spans[i].rows;
      longest = spans[i].longest;
      continue;
    }
    rows = grown_rows;
    longest = grown_longest;
  }
  pieces.push_back(piece(batch, spans, begin, spans.size()));
  return pieces;
}

}  // namespace tokenfocus::data
