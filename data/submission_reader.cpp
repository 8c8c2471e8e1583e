#include "data/submission_reader.h"

#include <cmath>
#include <fstream>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace tokenfocus::data {
namespace {

double number_of(const nlohmann::ordered_json& value, const std::string& path, size_t index,
                 const std::string& img_path, const std::string& key) {
  double v = 0;
  if (value.is_number()) {
    v = value.get<double>();
  } else if (value.is_array() && !value.empty()) {
    for (const auto& x : value) {
      if (!x.is_number())
        throw_user_error("{}: record {} ('{}'): {} holds a non-number", path, index, img_path, key);
      v += x.get<double>() / static_cast<double>(value.size());
    }
  } else {
    throw_user_error("{}: record {} ('{}'): {} must be a number", path, index, img_path, key);
  }
  if (!std::isfinite(v)) {
    throw_user_error("{}: record {} ('{}'): {} is not finite", path, index, img_path, key);
  }
  return v;
}

}  // namespace

std::vector<Record> read_submission(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw_user_error("cannot open submission {}", path);
  // ordered_json keeps element keys in file order, which the submission check compares against.
  nlohmann::ordered_json doc;
  try {
    doc = nlohmann::ordered_json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw_user_error("{}: not valid JSON ({})", path, e.what());
  }
  if (!doc.is_array()) throw_user_error("{}: expected a JSON list of records", path);
  std::vector<Record> records;
  std::unordered_set<std::string> seen;
  for (size_t i = 0; i < doc.size(); ++i) {
    const auto& r = doc[i];
    if (!r.is_object()) throw_user_error("{}: record {} is not an object", path, i);
    if (!r.contains("img_path") || !r["img_path"].is_string()) {
      throw_user_error("{}: record {}: key \"img_path\" missing or not a string", path, i);
    }
    data::Record record;
    record.img_path = r["img_path"].get<std::string>();
    if (!seen.insert(record.img_path).second) {
      throw_user_error("{}: record {}: img_path '{}' appears twice", path, i, record.img_path);
    }
    if (r.contains("prompt") && r["prompt"].is_string())
      record.prompt = r["prompt"].get<std::string>();
    if (!r.contains("total_score")) {
      throw_user_error("{}: record {} ('{}'): key \"total_score\" missing", path, i,
                       record.img_path);
    }
    record.mos = number_of(r["total_score"], path, i, record.img_path, "total_score");
    if (r.contains("element_score")) {
      if (!r["element_score"].is_object()) {
        throw_user_error("{}: record {} ('{}'): element_score must be an object", path, i,
                         record.img_path);
      }
      for (const auto& [key, value] : r["element_score"].items()) {
        data::Element e;
        e.key = key;
        data::split_element_key(key, e.name, e.category);
        e.mean = number_of(value, path, i, record.img_path, "element_score[\"" + key + "\"]");
        record.elements.push_back(std::move(e));
      }
    }
    records.push_back(std::move(record));
  }
  return records;
}

}  // namespace tokenfocus::data
