// `loss:` — weights of the TF+PS loss terms (DESIGN.md §4).
#pragma once

#include <string>

#include "common/config/check.h"

namespace tokenfocus::config {

struct LossConfig {
  double tf_weight = 1.0;          // α: full-vocabulary CE at the first answer token
  double ps_weight = 1.0;          // β: CE over the label positions only
  double regression_weight = 0.5;  // γ: expected score vs MOS
  double plcc_weight = 0.0;        // δ: 1 - PLCC over the globally gathered batch
  double element_weight = 0.5;     // weight of the yes/no element answers
  double temperature = 1.0;        // τ of the PS softmax
  std::string regression = "mse";
  bool soft_targets = true;  // annotators' distribution instead of the rounded MOS
  template <class V>
  void describe(V& v) {
    v("tf_weight", tf_weight, at_least(0));
    v("ps_weight", ps_weight, at_least(0));
    v("regression_weight", regression_weight, at_least(0));
    v("plcc_weight", plcc_weight, at_least(0));
    v("element_weight", element_weight, at_least(0));
    v("temperature", temperature, positive());
    v("regression", regression, one_of({"mse", "smooth_l1"}));
    v("soft_targets", soft_targets);
  }
};

}  // namespace tokenfocus::config
