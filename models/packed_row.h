// How a row of attention_mask describes a packed sequence (data/batch.h): 0 = padding, 1 = a shared
// token (the whole sequence when it is not packed), k >= 2 = a token of branch k. The decoders'
// mask (causal_padding_mask) and position ids (M-RoPE, InternVL's 1-D ids) read rows this way.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace tokenfocus::models {

// The real tokens of row `row` of attention_mask: positions of the shared tokens, then of the
// branch tokens with each one's index inside its own branch. UserError when a shared token follows
// a branch.
struct PackedRow {
  std::vector<int64_t> shared;
  std::vector<int64_t> branch, branch_offset;
};
PackedRow packed_row(const at::TensorAccessor<int64_t, 2>& attention_mask, int64_t row,
                     int64_t seq);

// [B,S] int64 1-D position ids: column s for padding and shared tokens (InternVL's arange, which
// ignores padding), and for a branch token the column after the last shared token plus its index
// inside its branch, as in the branch's own sequence. RoPE depends on differences of ids only, so
// the left padding a packed row gets instead of its own is a common shift of every query and key.
torch::Tensor packed_positions_1d(const torch::Tensor& attention_mask);

}  // namespace tokenfocus::models
