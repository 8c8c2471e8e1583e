// Writes typed config structs as JSON, the twin of yaml_writer.h for files that are JSON by
// convention (an exported model's tokenfocus.json): keys in describe() order, an unset optional
// left out so that reading the file back gives the same struct. resolve_file reads it back (YAML
// is a superset of JSON), with the same errors as for run configs.
#pragma once

#include <nlohmann/json.hpp>

#include "common/config/yaml_reader.h"

namespace tokenfocus::config {

template <class T>
nlohmann::ordered_json to_json(const T& value);

class JsonWriter {
 public:
  template <class T>
  void operator()(const char* key, const T& value, const Check& = {}) {
    if constexpr (is_optional<T>::value) {
      if (!value) return;  // an unset optional is left out, as it was before reading
      json_[key] = to_json(*value);
    } else {
      json_[key] = to_json(value);
    }
  }
  nlohmann::ordered_json json() const { return json_; }

 private:
  nlohmann::ordered_json json_ = nlohmann::ordered_json::object();
};

template <class T>
nlohmann::ordered_json to_json(const T& value) {
  if constexpr (has_describe<T>::value) {
    JsonWriter writer;
    const_cast<T&>(value).describe(writer);  // describe() only reads when given a writer
    return writer.json();
  } else if constexpr (is_vector<T>::value) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& item : value) list.push_back(to_json(item));
    return list;
  } else if constexpr (is_string_map<T>::value) {
    nlohmann::ordered_json map = nlohmann::ordered_json::object();
    for (const auto& [key, item] : value) map[key] = to_json(item);
    return map;
  } else {
    return nlohmann::ordered_json(value);
  }
}

}  // namespace tokenfocus::config
