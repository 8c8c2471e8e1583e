#include "models/mrope.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "common/error.h"

namespace tokenfocus::models {

RopeIndex get_rope_index(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                         const torch::Tensor& image_grid_thw,
                         const torch::Tensor& image_of_sequence, const MropeTokens& tokens) {
  const torch::Tensor ids = input_ids.to(torch::kCPU, torch::kLong).contiguous();
  const torch::Tensor mask = attention_mask.defined()
                                 ? attention_mask.to(torch::kCPU, torch::kLong).contiguous()
                                 : torch::ones_like(ids);
  const int64_t batch = ids.size(0), seq = ids.size(1);
  torch::Tensor positions = torch::ones({3, batch, seq}, torch::kLong);
  torch::Tensor deltas = torch::zeros({batch, 1}, torch::kLong);
  auto pos = positions.accessor<int64_t, 3>();
  auto delta = deltas.accessor<int64_t, 2>();
  const auto id = ids.accessor<int64_t, 2>();
  const auto valid = mask.accessor<int64_t, 2>();

  if (!image_grid_thw.defined()) {
    // Text only: ids count the real tokens; rows are equal.
    for (int64_t b = 0; b < batch; ++b) {
      const PackedRow row = packed_row(valid, b, seq);
      // Padded positions hold 1 and count in the maximum, as in Hugging Face.
      int64_t largest = row.shared.size() + row.branch.size() < static_cast<size_t>(seq)
                            ? 1
                            : std::numeric_limits<int64_t>::min();
      const int64_t prefix = static_cast<int64_t>(row.shared.size());
      for (int64_t i = 0; i < prefix; ++i) {
        for (int64_t r = 0; r < 3; ++r) pos[r][b][row.shared[i]] = i;
        largest = std::max(largest, i);
      }
      for (size_t i = 0; i < row.branch.size(); ++i) {
        const int64_t id = prefix + row.branch_offset[i];
        for (int64_t r = 0; r < 3; ++r) pos[r][b][row.branch[i]] = id;
        largest = std::max(largest, id);
      }
      delta[b][0] = largest + 1 - seq;
    }
    return {positions.to(input_ids.device()), deltas.to(input_ids.device())};
  }

  const torch::Tensor grid = image_grid_thw.to(torch::kCPU, torch::kLong).contiguous();
  const auto thw = grid.accessor<int64_t, 2>();
  const int64_t image_count = grid.size(0);
  torch::Tensor shown;
  if (image_of_sequence.defined())
    shown = image_of_sequence.to(torch::kCPU, torch::kLong).contiguous();
  int64_t next_image = 0;  // Hugging Face's running image index across the batch
  const int64_t merge = tokens.spatial_merge_size;

  for (int64_t b = 0; b < batch; ++b) {
    // The image blocks are in the shared tokens (the whole sequence when it is not packed).
    const PackedRow row = packed_row(valid, b, seq);
    std::vector<int64_t> real;
    for (int64_t s : row.shared) real.push_back(id[b][s]);
    for (int64_t s : row.branch)
      if (id[b][s] == tokens.image_token_id)
        throw_user_error("sequence {}: an image token at position {} lies in a branch", b, s);
    const std::vector<int64_t>& where = row.shared;
    const int64_t n = static_cast<int64_t>(real.size());
    int64_t blocks = 0;  // images announced by <vision_start><image_pad>
    for (int64_t s = 0; s + 1 < n; ++s)
      if (real[s] == tokens.vision_start_token_id && real[s + 1] == tokens.image_token_id) ++blocks;
    if (shown.defined()) {
      const int64_t image = shown[b].item<int64_t>();
      if ((image < 0) != (blocks == 0) || blocks > 1 || image >= image_count)
        throw_user_error(
            "sequence {}: image_of_sequence says image {} but the sequence has {} image blocks ({} "
            "images in the batch)",
            b, image, blocks, image_count);
    }

    std::vector<int64_t> t_ids, h_ids, w_ids;  // per real token
    t_ids.reserve(n);
    h_ids.reserve(n);
    w_ids.reserve(n);
    int64_t start = 0, next_id = 0;
    auto add_text = [&](int64_t count) {
      for (int64_t i = 0; i < count; ++i) {
        t_ids.push_back(next_id + i);
        h_ids.push_back(next_id + i);
        w_ids.push_back(next_id + i);
      }
      next_id += count;
    };
    for (int64_t block = 0; block < blocks; ++block) {
      const auto found = std::find(real.begin() + start, real.end(), tokens.image_token_id);
      const int64_t end = found - real.begin();
      const int64_t image = shown.defined() ? shown[b].item<int64_t>() : next_image++;
      if (image >= image_count)
        throw_user_error("sequence {}: more image blocks than the {} images of the batch", b,
                         image_count);
      const int64_t gt = thw[image][0], gh = thw[image][1] / merge, gw = thw[image][2] / merge;
      add_text(end - start);
      const int64_t base = next_id;
      int64_t largest = base - 1;
      for (int64_t t = 0; t < gt; ++t)
        for (int64_t h = 0; h < gh; ++h)
          for (int64_t w = 0; w < gw; ++w) {
            t_ids.push_back(base + t);
            h_ids.push_back(base + h);
            w_ids.push_back(base + w);
            largest = std::max({largest, base + t, base + h, base + w});
          }
      next_id = largest + 1;
      start = end + gt * gh * gw;
      if (start > n)
        throw_user_error("sequence {}: image {} needs {} image tokens but the sequence ends first",
                         b, image, gt * gh * gw);
    }
    if (start < n) add_text(n - start);
    int64_t largest = 0;
    for (int64_t i = 0; i < n; ++i) {
      pos[0][b][where[i]] = t_ids[i];
      pos[1][b][where[i]] = h_ids[i];
      pos[2][b][where[i]] = w_ids[i];
      largest = std::max({largest, t_ids[i], h_ids[i], w_ids[i]});
    }
    // A branch is text that continues from the end of the shared tokens, as in its own sequence.
    for (size_t i = 0; i < row.branch.size(); ++i) {
      const int64_t text_id = next_id + row.branch_offset[i];
      for (int64_t r = 0; r < 3; ++r) pos[r][b][row.branch[i]] = text_id;
      largest = std::max(largest, text_id);
    }
    delta[b][0] = largest + 1 - seq;
  }
  return {positions.to(input_ids.device()), deltas.to(input_ids.device())};
}

}  // namespace tokenfocus::models
