// Where a config value came from, so that errors can say "file:line" or "--set key=value".
#pragma once

#include <map>
#include <string>

namespace YAML {
class Node;
}

namespace tokenfocus::config {

struct Source {
  std::string file;                              // the YAML file ("" when built in memory)
  std::map<std::string, std::string> overrides;  // key path -> the "--set" text that set it

  // "FILE:LINE" for a value read from the file, "--set a.b=c" for an overridden one.
  std::string location(const YAML::Node& node, const std::string& path) const;
};

}  // namespace tokenfocus::config
