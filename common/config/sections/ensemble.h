// `ensemble:` — bootstrap, stacking meta-learners, blending, submission (docs/ensemble.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config/check.h"

namespace tokenfocus::config {

// The fields of the challenge's readme.txt that travels with output.json.
struct SubmissionReadmeConfig {
  double runtime_per_image = 0;  // seconds per image at inference ("runtime per image [s]")
  bool uses_gpu = true;          // "CPU[1] / GPU[0]"
  bool extra_data = false;       // "Extra Data [1] / No Extra Data [0]"
  std::string description;       // "" = generated from the ensemble that was chosen
  template <class V>
  void describe(V& v) {
    v("runtime_per_image", runtime_per_image, at_least(0));
    v("uses_gpu", uses_gpu);
    v("extra_data", extra_data);
    v("description", description);
  }
};

struct EnsembleConfig {
  int64_t bootstrap_samples = 1000;  // B; 0 = no intervals
  double confidence = 0.95;          // percentile interval width
  int64_t seed = 0;
  int64_t threads = 0;  // bootstrap and stacking CV workers (0 = all cores)
  std::vector<std::string> stackers{"ridge", "nnls"};  // ridge | nnls | xgboost
  // Per model in a stacking row: expected_score | probabilities | log_odds (ensemble/stacking.h).
  std::string stack_features = "expected_score";
  bool stack_element_features = false;  // add each model's mean/min element probability
  bool allow_mixed_configs = false;     // accept stores whose run-config hashes differ (warns)
  int64_t inner_folds = 5;
  double blend_holdout = 0.3;  // share of OOF rows the blending weights are chosen on
  int64_t blend_starts = 8;
  std::string plcc_direction = "official";  // fit the logistic as the official script does
  SubmissionReadmeConfig readme;
  template <class V>
  void describe(V& v) {
    v("bootstrap_samples", bootstrap_samples, at_least(0));
    v("confidence", confidence, in_range(0.5, 0.999));
    v("seed", seed, at_least(0));
    v("threads", threads, at_least(0));
    v("stackers", stackers);
    v("stack_features", stack_features, one_of({"expected_score", "probabilities", "log_odds"}));
    v("stack_element_features", stack_element_features);
    v("allow_mixed_configs", allow_mixed_configs);
    v("inner_folds", inner_folds, at_least(2));
    v("blend_holdout", blend_holdout, in_range(0.05, 0.95));
    v("blend_starts", blend_starts, at_least(1));
    v("plcc_direction", plcc_direction, one_of({"official", "conventional"}));
    v("readme", readme);
  }
};

}  // namespace tokenfocus::config
