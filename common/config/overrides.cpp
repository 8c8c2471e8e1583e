#include "common/config/overrides.h"

#include <charconv>

#include "common/error.h"

namespace tokenfocus::config {
namespace {

std::vector<std::string> split_path(const std::string& key, const std::string& assignment) {
  std::vector<std::string> segments;
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    segments.push_back(key.substr(start, dot - start));
    if (segments.back().empty())
      throw_user_error("--set {}: empty segment in key path '{}'", assignment, key);
    if (dot == std::string::npos) return segments;
    start = dot + 1;
  }
}

bool parse_index(const std::string& segment, size_t& index) {
  const auto [end, ec] = std::from_chars(segment.data(), segment.data() + segment.size(), index);
  return ec == std::errc() && end == segment.data() + segment.size();
}

YAML::Node parse_value(const std::string& text, const std::string& assignment) {
  if (text.empty()) return YAML::Node(std::string());
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw_user_error("--set {}: the value is not valid YAML ({})", assignment, e.msg);
  }
}

}  // namespace

void apply_override(YAML::Node& root, const std::string& assignment, Source& source) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw_user_error("--set {}: expected KEY=VALUE (for example optim.lr=1e-4)", assignment);
  const std::string key = assignment.substr(0, eq);
  const std::vector<std::string> segments = split_path(key, assignment);
  YAML::Node value = parse_value(assignment.substr(eq + 1), assignment);

  // yaml-cpp nodes are handles: walking with reset() keeps writes attached to `root`.
  YAML::Node current;
  current.reset(root);
  std::string parent_path;  // the key path walked so far, for messages
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string& segment = segments[i];
    if (i > 0) parent_path += (i > 1 ? "." : "") + segments[i - 1];
    const bool last = i + 1 == segments.size();
    size_t index = 0;
    if (current.IsSequence() && parse_index(segment, index)) {
      if (index >= current.size())
        throw_user_error("--set {}: index {} is beyond the list '{}' of {} items", assignment,
                         index, parent_path, current.size());
      if (last) {
        current[index] = value;
      } else {
        YAML::Node next = current[index];
        current.reset(next);
      }
      continue;
    }
    if (!current.IsMap() && !current.IsNull())
      throw_user_error("--set {}: '{}' is not a mapping, so it has no key '{}'", assignment,
                       parent_path, segment);
    if (last) {
      current[segment] = value;
    } else {
      YAML::Node next = current[segment];
      if (!next.IsDefined() || next.IsNull()) {
        current[segment] = YAML::Node(YAML::NodeType::Map);
        next = current[segment];
      }
      current.reset(next);
    }
  }
  source.overrides[key] = assignment;
}

void apply_overrides(YAML::Node& root, const std::vector<std::string>& assignments,
                     Source& source) {
  for (const std::string& assignment : assignments) apply_override(root, assignment, source);
}

}  // namespace tokenfocus::config
