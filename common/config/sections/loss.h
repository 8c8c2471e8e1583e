// `loss:` — weights and shape of the TF+PS loss terms (DESIGN.md §4, docs/losses.md).
#pragma once

#include <string>

#include "common/config/check.h"

namespace tokenfocus::config {

struct LossConfig {
  double tf_weight = 1.0;          // α: full-vocabulary CE at the first answer token
  double ps_weight = 1.0;          // β: CE over the label positions only
  double regression_weight = 0.5;  // γ: expected score vs MOS
  double plcc_weight = 0.0;        // δ: 1 - PLCC over the globally gathered batch
  double element_weight = 0.5;     // weight of the yes/no element answers (α, β, γ inside)
  double temperature = 1.0;        // τ of the PS softmax (also used by the read-out)
  std::string regression = "mse";
  double smooth_l1_beta = 1.0;  // where smooth-L1 turns from quadratic to linear (score units)
  bool soft_targets = true;     // annotators' distribution instead of the rounded MOS
  // Added to both variances in PLCC's denominator (score² units): a batch of identical scores
  // then has correlation 0 and a finite gradient instead of 0/0.
  double plcc_epsilon = 1e-6;
  template <class V>
  void describe(V& v) {
    v("tf_weight", tf_weight, at_least(0));
    v("ps_weight", ps_weight, at_least(0));
    v("regression_weight", regression_weight, at_least(0));
    v("plcc_weight", plcc_weight, at_least(0));
    v("element_weight", element_weight, at_least(0));
    v("temperature", temperature, positive());
    v("regression", regression, one_of({"mse", "smooth_l1"}));
    v("smooth_l1_beta", smooth_l1_beta, positive());
    v("soft_targets", soft_targets);
    v("plcc_epsilon", plcc_epsilon, positive());
  }
};

}  // namespace tokenfocus::config
