// Reading Hugging Face config.json values: the shared rules of hf_config.cpp and
// internvl_config.cpp. A key that is absent or null keeps the default (Hugging Face omits keys
// equal to its defaults); a value of the wrong type or out of range is one UserError naming `where`
// (the file, and the section inside it) and the key.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace tokenfocus::models {

template <class T>
void read_json_key(const nlohmann::json& object, const char* key, T& field,
                   const std::string& where) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return;
  try {
    field = it->get<T>();
  } catch (const nlohmann::json::exception&) {
    throw_user_error("{}: key '{}' has the wrong type ({})", where, key, it->dump());
  }
}

inline void check_json_positive(int64_t value, const char* key, const std::string& where) {
  if (value <= 0) throw_user_error("{}: key '{}' must be positive, got {}", where, key, value);
}

}  // namespace tokenfocus::models
