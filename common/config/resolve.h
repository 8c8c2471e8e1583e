// Loading a YAML file (+ --set overrides) into a typed config, its canonical text and its hash.
#pragma once

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/config/overrides.h"
#include "common/config/yaml_reader.h"
#include "common/config/yaml_writer.h"
#include "common/sha256.h"

namespace tokenfocus::config {

template <class T, class = void>
struct has_validate : std::false_type {};
template <class T>
struct has_validate<T, std::void_t<decltype(std::declval<const T&>().validate())>>
    : std::true_type {};

template <class T>
struct Resolved {
  T config;
  std::string canonical_yaml;  // what `config show` prints and the run folder keeps
  std::string hash;            // SHA-256 of canonical_yaml: ranks, checkpoints and stores carry it
};

// Parses a YAML file; a missing file or a syntax error is a UserError naming file and line.
YAML::Node load_yaml_file(const std::string& path);
YAML::Node load_yaml_text(const std::string& text, const std::string& name);

template <class T>
Resolved<T> resolve_node(YAML::Node root, const std::vector<std::string>& overrides,
                         Source source) {
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  apply_overrides(root, overrides, source);
  Resolved<T> resolved;
  read_node(root, resolved.config, "", source);
  if constexpr (has_validate<T>::value) {  // rules that span keys, reported against the file
    try {
      resolved.config.validate();
    } catch (const UserError& e) {
      throw UserError((source.file.empty() ? std::string("<config>") : source.file) + ": " +
                      e.what());
    }
  }
  resolved.canonical_yaml = to_canonical_yaml(resolved.config);
  resolved.hash = sha256_hex(resolved.canonical_yaml);
  return resolved;
}

template <class T>
Resolved<T> resolve_file(const std::string& path, const std::vector<std::string>& overrides = {}) {
  Source source;
  source.file = path;
  return resolve_node<T>(load_yaml_file(path), overrides, std::move(source));
}

template <class T>
Resolved<T> resolve_text(const std::string& text, const std::vector<std::string>& overrides = {},
                         const std::string& name = "<config>") {
  Source source;
  source.file = name;
  return resolve_node<T>(load_yaml_text(text, name), overrides, std::move(source));
}

}  // namespace tokenfocus::config
