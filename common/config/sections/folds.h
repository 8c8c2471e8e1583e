// `folds:` — k-fold split grouped by prompt, stratified by MOS.
#pragma once

#include <cstdint>
#include <vector>

#include "common/config/check.h"

namespace tokenfocus::config {

struct FoldsConfig {
  int64_t k = 5;
  int64_t seed = 0;
  std::vector<int64_t> only;  // train just these folds (empty = all)
  template <class V>
  void describe(V& v) {
    v("k", k, at_least(2));
    v("seed", seed, at_least(0));
    v("only", only, at_least(0));
  }
};

}  // namespace tokenfocus::config
