// Writes typed config structs back to YAML in canonical form: keys in describe() order, maps sorted,
// numbers in shortest round-trip form. The canonical text is what the config hash is taken of.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/config/yaml_reader.h"

namespace tokenfocus::config {

template <class T>
YAML::Node to_node(const T& value);

class YamlWriter {
 public:
  template <class T>
  void operator()(const char* key, const T& value, const Check& = {}) {
    if constexpr (is_optional<T>::value) {
      if (!value) return;  // an unset optional is left out, as it was before reading
    }
    node_[key] = to_node(value);
  }
  YAML::Node node() const { return node_; }

 private:
  YAML::Node node_{YAML::NodeType::Map};
};

template <class T>
YAML::Node to_node(const T& value) {
  if constexpr (is_optional<T>::value) {
    return value ? to_node(*value) : YAML::Node(YAML::NodeType::Null);
  } else if constexpr (has_describe<T>::value) {
    YamlWriter writer;
    const_cast<T&>(value).describe(writer);  // describe() only reads when given a writer
    return writer.node();
  } else if constexpr (is_vector<T>::value) {
    YAML::Node list(YAML::NodeType::Sequence);
    for (const auto& item : value) list.push_back(to_node(item));
    return list;
  } else if constexpr (is_string_map<T>::value) {
    YAML::Node map(YAML::NodeType::Map);
    for (const auto& [key, item] : value) map[key] = to_node(item);
    return map;
  } else if constexpr (std::is_same_v<T, bool>) {
    return YAML::Node(value ? "true" : "false");
  } else if constexpr (std::is_integral_v<T>) {
    return YAML::Node(std::to_string(value));
  } else if constexpr (std::is_floating_point_v<T>) {
    return YAML::Node(format_number(static_cast<double>(value)));
  } else {
    return YAML::Node(value);
  }
}

// Emits a node as block-style YAML text ending in a newline.
std::string emit_yaml(const YAML::Node& node);

template <class T>
std::string to_canonical_yaml(const T& config) {
  return emit_yaml(to_node(config));
}

}  // namespace tokenfocus::config
