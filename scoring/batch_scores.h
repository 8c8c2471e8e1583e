// The scores of one batch: a forward to the hidden state at each question's query position, then
// the label-set read-outs of losses/readout.h — ŝ and q over S for the overall question, P(yes) for
// each element question. The one place where a batch becomes numbers, shared by `predict`,
// `score`, `serve` and `paircomp`, so they agree by construction.
#pragma once

#include <vector>

#include "data/batch.h"
#include "losses/label_head.h"
#include "models/backbone.h"

namespace tokenfocus::scoring {

struct SampleScores {
  double score = 0;                   // ŝ: expected label value of the overall question
  std::vector<double> label_probs;    // q over the overall label set
  std::vector<double> element_probs;  // P(yes) per element, by the record's element index
};

struct ReadoutOptions {
  double temperature = 1.0;  // τ of the label-set softmax
  bool sum_case_variants = true;
  int64_t forward_tokens = 0;  // > 0: forwards of at most this many padded tokens (optim.)
};

// Scores of every sample of `batch`, in its sample order. No gradients; the model stays in its
// mode (callers put it in eval()). The heads must live on the model's device.
std::vector<SampleScores> score_batch(models::Backbone& model, const data::Batch& batch,
                                      const losses::LabelHead& overall,
                                      const losses::LabelHead& element,
                                      const ReadoutOptions& options);

}  // namespace tokenfocus::scoring
