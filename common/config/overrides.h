// `--set a.b.c=value` overrides, applied to the YAML tree before it is read into typed structs, so
// that they are checked exactly like values from the file. Segments that are integers index lists
// (`backbones.0.lr=1e-4`); the value is parsed as YAML (`[1, 2]`, `{a: 1}`, `abc`).
#pragma once

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/config/source.h"

namespace tokenfocus::config {

// Applies one override to `root` (a mapping) and records it in `source` for error messages.
// Throws UserError for text without '=', an empty key, or an index beyond a list.
void apply_override(YAML::Node& root, const std::string& assignment, Source& source);

void apply_overrides(YAML::Node& root, const std::vector<std::string>& assignments, Source& source);

}  // namespace tokenfocus::config
