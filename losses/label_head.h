// A label set as the loss and the read-out see it: the vocabulary ids of the labels (s_1..s_k),
// their values (v_1..v_k) and, per label, extra case-variant ids ("Yes", "YES" for "yes") that the
// read-out may add to the label's probability mass. Built from data::LabelSet (batch_targets.h) or
// directly from vectors in tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace tokenfocus::losses {

struct LabelHead {
  torch::Tensor token_ids;              // [K] int64, one vocabulary id per label
  torch::Tensor values;                 // [K] float64, the value of each label (1..5, or 1/0)
  std::vector<torch::Tensor> variants;  // K entries (or none): [n_i] int64 extra ids per label

  static LabelHead from_vectors(const std::vector<int64_t>& token_ids,
                                const std::vector<double>& values,
                                const std::vector<std::vector<int64_t>>& variants = {});

  int64_t size() const { return token_ids.defined() ? token_ids.size(0) : 0; }
  bool has_variants() const;

  // Throws UserError naming `what` (e.g. "prompt.element_labels") if ids fall outside the
  // vocabulary, repeat, or the shapes disagree.
  void validate(int64_t vocab_size, const std::string& what) const;

  LabelHead to(torch::Device device) const;
};

}  // namespace tokenfocus::losses
