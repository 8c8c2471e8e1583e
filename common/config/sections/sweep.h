// `sweep:` — grid or seeded random search over any config key.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/config/check.h"

namespace tokenfocus::config {

struct SweepParameterConfig {
  std::vector<std::string> values;  // grid / choice values, as YAML text (applied like --set)
  std::string distribution;         // random search: "uniform", "log_uniform" or "int_uniform"
  double min = 0.0;
  double max = 0.0;
  template <class V>
  void describe(V& v) {
    v("values", values);
    v("distribution", distribution, one_of({"", "uniform", "log_uniform", "int_uniform"}));
    v("min", min);
    v("max", max);
  }
};

// One trial of a `variants` sweep (an ablation): a name and the overrides it applies (like --set).
struct SweepVariantConfig {
  std::string name;
  std::vector<std::string> set;  // "key.path=value", ...; empty = the base config (the baseline)
  template <class V>
  void describe(V& v) {
    v("name", name, required());
    v("set", set);
  }
};

struct SweepConfig {
  std::string method = "grid";  // grid | random | variants (one trial per listed variant)
  int64_t trials = 0;           // random search: number of trials
  int64_t seed = 0;
  std::map<std::string, SweepParameterConfig> parameters;  // key path -> values or distribution
  std::vector<SweepVariantConfig> variants;                // method: variants
  template <class V>
  void describe(V& v) {
    v("method", method, one_of({"grid", "random", "variants"}));
    v("trials", trials, at_least(0));
    v("seed", seed, at_least(0));
    v("parameters", parameters);
    v("variants", variants);
  }
};

}  // namespace tokenfocus::config
