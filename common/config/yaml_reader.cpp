#include "common/config/yaml_reader.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/config/did_you_mean.h"

namespace tokenfocus::config {

std::string describe_node(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "no value";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "'" + node.Scalar() + "'";
}

std::string format_number(double value) { return fmt::format("{}", value); }

void throw_config_error(const Source& source, const YAML::Node& node, const std::string& path,
                        const std::string& problem) {
  // Problems about a missing key already name it; all others lead with the key path.
  const bool names_key = problem.find('\'' + path + '\'') != std::string::npos;
  throw UserError(fmt::format("{}: {}{}", source.location(node, path),
                              names_key ? "" : path + ": ", problem));
}

void check_number(double value, const Check& check, const Source& source, const YAML::Node& node,
                  const std::string& path) {
  const bool below = check.min && (check.min_exclusive ? value <= *check.min : value < *check.min);
  const bool above = check.max && value > *check.max;
  if (!below && !above) return;
  std::string rule;
  if (check.min && check.max) {
    rule = fmt::format("between {} and {}", format_number(*check.min), format_number(*check.max));
  } else if (check.min) {
    rule = fmt::format("{} {}", check.min_exclusive ? ">" : ">=", format_number(*check.min));
  } else {
    rule = fmt::format("<= {}", format_number(*check.max));
  }
  throw_config_error(source, node, path,
                     fmt::format("{} is out of range (must be {})", format_number(value), rule));
}

void check_string(const std::string& value, const Check& check, const Source& source,
                  const YAML::Node& node, const std::string& path) {
  if (check.one_of.empty()) return;
  for (const std::string& allowed : check.one_of)
    if (value == allowed) return;
  const std::string suggestion = closest_key(value, check.one_of);
  throw_config_error(source, node, path,
                     fmt::format("'{}' is not one of: {}{}", value, fmt::join(check.one_of, ", "),
                                 suggestion.empty() ? "" : " (did you mean '" + suggestion + "'?)"));
}

void YamlReader::reject_unknown_keys() const {
  if (!map_.IsMap()) return;
  for (const auto& item : map_) {
    const std::string key = item.first.Scalar();
    bool known = false;
    for (const std::string& k : known_) known = known || k == key;
    if (known) continue;
    const std::string path = path_.empty() ? key : path_ + "." + key;
    const std::string suggestion = closest_key(key, known_);
    const std::string hint = suggestion.empty()
                                 ? ""
                                 : fmt::format(" (did you mean '{}{}'?)",
                                               path_.empty() ? "" : path_ + ".", suggestion);
    throw UserError(fmt::format("{}: unknown key '{}'{}", source_.location(item.first, path), path,
                                hint));
  }
}

}  // namespace tokenfocus::config
