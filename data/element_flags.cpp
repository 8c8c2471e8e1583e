#include "data/element_flags.h"

#include <optional>

#include "common/error.h"

namespace tokenfocus::data {
namespace {

std::optional<double> flag_of(const RecordFlags& flags, const std::string& name) {
  if (name == "promt_meaningless") return flags.promt_meaningless;
  if (name == "split_confidence") return flags.split_confidence;
  if (name == "attribute_confidence") return flags.attribute_confidence;
  // The config check lists the three names; reaching this is a bug, not bad input.
  throw_internal_error("data.element_flags: unknown flag '{}'", name);
}

}  // namespace

ElementFlagCounts apply_element_flags(std::vector<Record>& records,
                                      const std::vector<config::ElementFlagRule>& rules) {
  ElementFlagCounts counts;
  if (rules.empty()) return counts;
  for (auto& record : records) {
    double weight = 1;
    for (const auto& rule : rules) {
      const auto value = flag_of(record.flags, rule.flag);
      if (value && *value == rule.equals) weight *= rule.weight;
    }
    if (weight == 1) continue;
    for (auto& element : record.elements) {
      element.weight *= weight;
      ++(weight > 0 ? counts.weighted : counts.dropped);
    }
  }
  return counts;
}

}  // namespace tokenfocus::data
