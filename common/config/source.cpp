#include "common/config/source.h"

#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

namespace tokenfocus::config {

std::string Source::location(const YAML::Node& node, const std::string& path) const {
  // The override of this key or of any enclosing key wins: its value never came from the file.
  for (std::string prefix = path;;) {
    if (auto it = overrides.find(prefix); it != overrides.end()) return "--set " + it->second;
    const size_t dot = prefix.rfind('.');
    if (dot == std::string::npos) break;
    prefix.resize(dot);
  }
  const std::string name = file.empty() ? std::string("<config>") : file;
  if (node.IsDefined() && node.Mark().line >= 0) return fmt::format("{}:{}", name, node.Mark().line + 1);
  return name;
}

}  // namespace tokenfocus::config
