// A batch cut into forwards of bounded size: consecutive whole samples per piece, each piece at
// most `max_tokens` padded tokens (its rows × its own longest row; a sample larger than that is a
// piece of its own) and re-padded to its own longest row. The pieces' questions, concatenated, are
// the batch's questions in order, so hidden states computed piece by piece line up with the
// batch's targets. Used by optim.forward_tokens (training, predict) and `score --forward-tokens`.
#pragma once

#include <cstdint>
#include <vector>

#include "data/batch.h"

namespace tokenfocus::data {

// max_tokens <= 0: the batch itself, as the only piece.
std::vector<Batch> split_by_tokens(const Batch& batch, int64_t max_tokens);

}  // namespace tokenfocus::data
