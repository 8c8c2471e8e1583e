// Reads YAML into typed config structs. A struct takes part by declaring
//   template <class V> void describe(V& v) { v("lr", lr, positive()); v("name", name); }
// and the reader then checks types, ranges, allowed values, required keys and unknown keys, naming
// the key path and where the value came from (file:line or --set) in every error.
#pragma once

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/config/check.h"
#include "common/config/source.h"
#include "common/error.h"

namespace tokenfocus::config {

// Any visitor accepts any field; used only to detect that a struct has describe().
struct DescribeProbe {
  template <class... Args>
  void operator()(Args&&...) {}
};
template <class T, class = void>
struct has_describe : std::false_type {};
template <class T>
struct has_describe<T, std::void_t<decltype(std::declval<T&>().describe(
                           std::declval<DescribeProbe&>()))>> : std::true_type {};

template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};
template <class T>
struct is_string_map : std::false_type {};
template <class T, class C, class A>
struct is_string_map<std::map<std::string, T, C, A>> : std::true_type {};
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

// Describes a YAML node's kind for error messages.
std::string describe_node(const YAML::Node& node);
// Formats a double the way the canonical YAML writes it (shortest round-trip).
std::string format_number(double value);

[[noreturn]] void throw_config_error(const Source& source, const YAML::Node& node,
                                     const std::string& path, const std::string& problem);

void check_number(double value, const Check& check, const Source& source, const YAML::Node& node,
                  const std::string& path);
void check_string(const std::string& value, const Check& check, const Source& source,
                  const YAML::Node& node, const std::string& path);

template <class T>
void read_node(const YAML::Node& node, T& out, const std::string& path, const Source& source,
               const Check& check = {});

// Visits the fields of one YAML mapping; remembers which keys it knew.
class YamlReader {
 public:
  YamlReader(const YAML::Node& map, std::string path, const Source& source)
      : map_(map), path_(std::move(path)), source_(source) {}

  template <class T>
  void operator()(const char* key, T& value, const Check& check = {}) {
    known_.emplace_back(key);
    const std::string path = path_.empty() ? std::string(key) : path_ + "." + key;
    const YAML::Node child = map_.IsMap() ? map_[key] : YAML::Node();
    if (!child.IsDefined()) {
      if (check.required)
        throw_config_error(source_, map_, path, "missing required key '" + path + "'");
      return;
    }
    read_node(child, value, path, source_, check);
  }

  // Throws for the first key of the mapping that describe() did not name.
  void reject_unknown_keys() const;

 private:
  YAML::Node map_;
  std::string path_;
  const Source& source_;
  std::vector<std::string> known_;
};

template <class T>
void read_node(const YAML::Node& node, T& out, const std::string& path, const Source& source,
               const Check& check) {
  if constexpr (is_optional<T>::value) {
    if (node.IsNull()) {
      out.reset();
      return;
    }
    typename T::value_type value{};
    read_node(node, value, path, source, check);
    out = std::move(value);
  } else if constexpr (has_describe<T>::value) {
    if (!node.IsMap() && !node.IsNull())
      throw_config_error(source, node, path, "expected a mapping, got " + describe_node(node));
    YamlReader reader(node, path, source);
    out.describe(reader);
    reader.reject_unknown_keys();
  } else if constexpr (is_vector<T>::value) {
    if (!node.IsSequence())
      throw_config_error(source, node, path, "expected a list, got " + describe_node(node));
    T values;
    values.resize(node.size());
    for (size_t i = 0; i < node.size(); ++i)
      read_node(node[i], values[i], path + "." + std::to_string(i), source, check);
    out = std::move(values);
  } else if constexpr (is_string_map<T>::value) {
    if (!node.IsMap())
      throw_config_error(source, node, path, "expected a mapping, got " + describe_node(node));
    T values;
    for (const auto& item : node) {
      const std::string key = item.first.Scalar();
      read_node(item.second, values[key], path + "." + key, source, check);
    }
    out = std::move(values);
  } else if constexpr (std::is_same_v<T, bool>) {
    const std::string s = node.IsScalar() ? node.Scalar() : std::string();
    if (s == "true" || s == "True" || s == "TRUE") {
      out = true;
    } else if (s == "false" || s == "False" || s == "FALSE") {
      out = false;
    } else {
      throw_config_error(source, node, path, "expected true or false, got " + describe_node(node));
    }
  } else if constexpr (std::is_integral_v<T>) {
    const std::string s = node.IsScalar() ? node.Scalar() : std::string();
    long long value = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size())
      throw_config_error(source, node, path, "expected an integer, got " + describe_node(node));
    check_number(static_cast<double>(value), check, source, node, path);
    out = static_cast<T>(value);
  } else if constexpr (std::is_floating_point_v<T>) {
    const std::string s = node.IsScalar() ? node.Scalar() : std::string();
    char* end = nullptr;
    errno = 0;
    const double value = s.empty() ? 0.0 : std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE || !std::isfinite(value))
      throw_config_error(source, node, path, "expected a number, got " + describe_node(node));
    check_number(value, check, source, node, path);
    out = static_cast<T>(value);
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!node.IsScalar())
      throw_config_error(source, node, path, "expected a string, got " + describe_node(node));
    check_string(node.Scalar(), check, source, node, path);
    out = node.Scalar();
  } else {
    static_assert(sizeof(T) == 0, "config field of an unsupported type");
  }
}

}  // namespace tokenfocus::config
