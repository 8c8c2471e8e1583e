#include "models/packed_row.h"

#include <map>

#include "common/error.h"

namespace tokenfocus::models {

PackedRow packed_row(const at::TensorAccessor<int64_t, 2>& attention_mask, int64_t row,
                     int64_t seq) {
  PackedRow out;
  std::map<int64_t, int64_t> branch_length;
  for (int64_t s = 0; s < seq; ++s) {
    const int64_t value = attention_mask[row][s];
    if (value == 0) continue;
    if (value == 1) {
      if (!out.branch.empty())
        throw_user_error(
            "sequence {}: attention_mask marks position {} as shared (1) after a branch began; "
            "a packed row is padding, shared tokens, then branches (2, 3, ...)",
            row, s);
      out.shared.push_back(s);
      continue;
    }
    if (value < 0) throw_user_error("sequence {}: attention_mask {} at position {}", row, value, s);
    out.branch.push_back(s);
    out.branch_offset.push_back(branch_length[value]++);
  }
  return out;
}

torch::Tensor packed_positions_1d(const torch::Tensor& attention_mask) {
  const torch::Tensor mask = attention_mask.to(torch::kCPU, torch::kLong).contiguous();
  const int64_t batch = mask.size(0), seq = mask.size(1);
  torch::Tensor positions =
      torch::arange(seq, torch::kLong).unsqueeze(0).expand({batch, seq}).contiguous();
  if ((mask <= 1).all().item<bool>()) return positions.to(attention_mask.device());
  auto pos = positions.accessor<int64_t, 2>();
  const auto valid = mask.accessor<int64_t, 2>();
  for (int64_t b = 0; b < batch; ++b) {
    const PackedRow row = packed_row(valid, b, seq);
    const int64_t first =
        row.shared.empty() ? (row.branch.empty() ? 0 : row.branch.front()) : row.shared.back() + 1;
    for (size_t i = 0; i < row.branch.size(); ++i)
      pos[b][row.branch[i]] = first + row.branch_offset[i];
  }
  return positions.to(attention_mask.device());
}

}  // namespace tokenfocus::models
