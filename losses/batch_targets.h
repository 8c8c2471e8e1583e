// From the torch-free data structs to the loss's tensors: a data::LabelSet becomes a LabelHead, a
// data::Batch's sequences become QuestionTargets with one row per sequence, in batch order (the
// order in which the trainer gathers the query rows' hidden states).
#pragma once

#include "data/batch.h"
#include "data/label_set.h"
#include "losses/label_head.h"
#include "losses/question_targets.h"

namespace tokenfocus::losses {

// Variants are copied as they are; whether they are summed is the read-out's choice.
LabelHead label_head_from(const data::LabelSet& labels);

// Every sequence must carry its targets (a training or validation batch): a sequence without a
// target token or distribution is a UserError naming its sample key. Distributions are zero-padded
// to the wider of the two label sets.
QuestionTargets question_targets_from(const data::Batch& batch, const LabelHead& overall,
                                      const LabelHead& element);

}  // namespace tokenfocus::losses
