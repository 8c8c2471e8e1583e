#include "common/config/resolve.h"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "common/error.h"

namespace tokenfocus::config {

YAML::Node load_yaml_text(const std::string& text, const std::string& name) {
  try {
    YAML::Node root = YAML::Load(text);
    if (!root.IsMap() && !root.IsNull())
      throw_user_error("{}: a config must be a YAML mapping at the top level", name);
    return root;
  } catch (const YAML::Exception& e) {
    throw_user_error("{}:{}: invalid YAML: {}", name, e.mark.line + 1, e.msg);
  }
}

YAML::Node load_yaml_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw_user_error("{}: cannot open config file", path);
  std::ostringstream text;
  text << in.rdbuf();
  return load_yaml_text(text.str(), path);
}

}  // namespace tokenfocus::config
