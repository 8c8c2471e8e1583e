// `ensemble:` — bootstrap, stacking meta-learners, blending, submission.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config/check.h"

namespace tokenfocus::config {

struct EnsembleConfig {
  int64_t bootstrap_samples = 1000;
  int64_t seed = 0;
  std::vector<std::string> stackers{"ridge", "nnls"};
  int64_t inner_folds = 5;
  double blend_holdout = 0.3;
  int64_t blend_starts = 8;
  std::string plcc_direction = "official";  // fit the logistic as the official script does
  template <class V>
  void describe(V& v) {
    v("bootstrap_samples", bootstrap_samples, at_least(0));
    v("seed", seed, at_least(0));
    v("stackers", stackers);
    v("inner_folds", inner_folds, at_least(2));
    v("blend_holdout", blend_holdout, in_range(0.05, 0.95));
    v("blend_starts", blend_starts, at_least(1));
    v("plcc_direction", plcc_direction, one_of({"official", "conventional"}));
  }
};

}  // namespace tokenfocus::config
