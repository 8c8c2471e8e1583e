// Constraints a config field can carry (range, allowed values, required). Section structs name them
// in their describe() method; the YAML reader enforces them and names the key path on failure.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace tokenfocus::config {

struct Check {
  std::optional<double> min;
  std::optional<double> max;
  bool min_exclusive = false;
  std::vector<std::string> one_of;  // allowed values of a string field
  bool required = false;            // the key must be present in the file

  Check& and_required() {
    required = true;
    return *this;
  }
};

inline Check at_least(double lo) { return Check{lo, std::nullopt, false, {}, false}; }
inline Check positive() { return Check{0.0, std::nullopt, true, {}, false}; }
inline Check in_range(double lo, double hi) { return Check{lo, hi, false, {}, false}; }
inline Check one_of(std::vector<std::string> values) {
  return Check{std::nullopt, std::nullopt, false, std::move(values), false};
}
inline Check required() { return Check{std::nullopt, std::nullopt, false, {}, true}; }

}  // namespace tokenfocus::config
