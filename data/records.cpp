#include "data/records.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/log.h"

namespace tokenfocus::data {
namespace {

// ordered_json keeps element keys in file order (nlohmann::json would sort them).
using json = nlohmann::ordered_json;

const char* type_name(const json& value) {
  if (value.is_boolean()) return "a boolean";
  if (value.is_number()) return "a number";
  if (value.is_string()) return "a string";
  if (value.is_array()) return "a list";
  if (value.is_object()) return "an object";
  return "null";
}

// Everything needed to name the offending record in an error.
struct RecordContext {
  const std::string& source;
  size_t index;
  const json& record;

  std::string where(const std::string& key) const {
    std::string img;
    if (record.is_object()) {
      auto it = record.find("img_path");
      if (it != record.end() && it->is_string())
        img = fmt::format(" (img_path \"{}\")", it->get<std::string>());
    }
    return fmt::format("{}: record {}{}: key \"{}\"", source, index, img, key);
  }
};

std::string read_string(const RecordContext& ctx, const char* key, bool required) {
  auto it = ctx.record.find(key);
  if (it == ctx.record.end() || it->is_null()) {
    if (required) throw_user_error("{}: missing", ctx.where(key));
    return {};
  }
  // prompt_id is a string in EvalMuse; accept integers written without quotes too.
  if (it->is_number_integer() && std::string(key) == "prompt_id")
    return std::to_string(it->get<int64_t>());
  if (!it->is_string())
    throw_user_error("{}: expected a string, got {}", ctx.where(key), type_name(*it));
  return it->get<std::string>();
}

double read_number(const RecordContext& ctx, const std::string& key, const json& value) {
  if (!value.is_number())
    throw_user_error("{}: expected a number, got {}", ctx.where(key), type_name(value));
  const double x = value.get<double>();
  if (!std::isfinite(x)) throw_user_error("{}: expected a finite number", ctx.where(key));
  return x;
}

double mean_of(const std::vector<double>& values) {
  double sum = 0;
  for (double v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

// A list of annotator values, or one float (the ground-truth layout), or empty/null (unknown).
void read_scores(const RecordContext& ctx, const std::string& key, const json& value,
                 std::vector<double>& list, std::optional<double>& mean, double lo, double hi) {
  auto check_range = [&](double x) {
    if (x < lo || x > hi)
      throw_user_error("{}: value {} is outside [{}, {}]", ctx.where(key), x, lo, hi);
    return x;
  };
  if (value.is_null()) return;
  if (value.is_number()) {
    mean = check_range(read_number(ctx, key, value));
    return;
  }
  if (!value.is_array())
    throw_user_error("{}: expected a list of numbers or a number, got {}", ctx.where(key),
                     type_name(value));
  for (size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_number())
      throw_user_error("{}: item {}: expected a number, got {}", ctx.where(key), i,
                       type_name(value[i]));
    list.push_back(check_range(read_number(ctx, key, value[i])));
  }
  if (!list.empty()) mean = mean_of(list);
}

Record parse_record(const std::string& source, size_t index, const json& value) {
  const RecordContext ctx{source, index, value};
  if (!value.is_object())
    throw_user_error("{}: record {}: expected an object, got {}", source, index, type_name(value));
  Record record;
  record.prompt = read_string(ctx, "prompt", true);
  record.img_path = read_string(ctx, "img_path", true);
  if (record.img_path.empty()) throw_user_error("{}: is empty", ctx.where("img_path"));
  record.prompt_id = read_string(ctx, "prompt_id", false);
  // The challenge's ground-truth files carry no prompt_id: the prompt text groups images then.
  if (record.prompt_id.empty()) record.prompt_id = record.prompt;

  if (auto it = value.find("total_score"); it != value.end())
    read_scores(ctx, "total_score", *it, record.annotator_scores, record.mos, 1.0, 5.0);

  if (auto it = value.find("element_score"); it != value.end() && !it->is_null()) {
    if (!it->is_object())
      throw_user_error("{}: expected an object mapping \"element (category)\" to labels, got {}",
                       ctx.where("element_score"), type_name(*it));
    for (const auto& [key, labels] : it->items()) {
      Element element;
      element.key = key;
      split_element_key(key, element.name, element.category);
      if (element.name.empty())
        throw_user_error("{}: an element key is empty", ctx.where("element_score"));
      read_scores(ctx, "element_score." + key, labels, element.labels, element.mean, 0.0, 1.0);
      record.elements.push_back(std::move(element));
    }
  }
  auto read_flag = [&](const char* key, std::optional<double>& flag) {
    if (auto it = value.find(key); it != value.end() && !it->is_null())
      flag = read_number(ctx, key, *it);
  };
  read_flag("promt_meaningless", record.flags.promt_meaningless);
  read_flag("split_confidence", record.flags.split_confidence);
  read_flag("attribute_confidence", record.flags.attribute_confidence);
  return record;
}

}  // namespace

void split_element_key(const std::string& key, std::string& name, std::string& category) {
  name = key;
  category.clear();
  if (key.size() < 3 || key.back() != ')') return;
  const size_t open = key.rfind('(');
  if (open == std::string::npos || open == 0) return;
  category = key.substr(open + 1, key.size() - open - 2);
  size_t end = open;
  while (end > 0 && key[end - 1] == ' ') --end;
  name = key.substr(0, end);
}

std::vector<Record> parse_records(const std::string& json_text, const std::string& source) {
  json document;
  try {
    document = json::parse(json_text);
  } catch (const json::parse_error& e) {
    throw_user_error("{}: not valid JSON at byte {}: {}", source, e.byte, e.what());
  }
  if (!document.is_array())
    throw_user_error("{}: expected a JSON list of records, got {}", source, type_name(document));
  std::vector<Record> records;
  records.reserve(document.size());
  std::unordered_map<std::string, size_t> seen;
  for (size_t i = 0; i < document.size(); ++i) {
    Record record = parse_record(source, i, document[i]);
    auto [it, inserted] = seen.emplace(record.img_path, i);
    if (!inserted)
      throw_user_error(
          "{}: record {}: key \"img_path\": \"{}\" repeats record {} (img_path is the sample key)",
          source, i, record.img_path, it->second);
    records.push_back(std::move(record));
  }
  return records;
}

std::vector<Record> read_records(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_user_error("{}: cannot open records file", path);
  std::ostringstream text;
  text << in.rdbuf();
  return parse_records(text.str(), path);
}

MissingImages parse_missing_images(const std::string& value) {
  if (value == "error") return MissingImages::kError;
  if (value == "skip") return MissingImages::kSkip;
  throw_user_error("data.missing_images: \"{}\" is not one of error, skip", value);
}

std::vector<Record> check_images(std::vector<Record> records, const std::string& image_root,
                                 MissingImages policy, const std::string& records_path) {
  std::vector<Record> kept;
  std::vector<std::string> missing;
  kept.reserve(records.size());
  for (auto& record : records) {
    const auto full = std::filesystem::path(image_root) / record.img_path;
    std::error_code ec;
    if (std::filesystem::is_regular_file(full, ec)) {
      kept.push_back(std::move(record));
    } else {
      missing.push_back(full.string());
    }
  }
  if (missing.empty()) return kept;
  if (policy == MissingImages::kSkip) {
    log::warn("{}: skipping {} record(s) whose image is missing below {} (first: {})", records_path,
              missing.size(), image_root, missing.front());
    return kept;
  }
  std::string list;
  for (size_t i = 0; i < missing.size() && i < 10; ++i) list += "\n  " + missing[i];
  throw_user_error(
      "{}: {} of {} image(s) are missing below {} (set data.missing_images: skip to drop "
      "them):{}{}",
      records_path, missing.size(), records.size(), image_root, list,
      missing.size() > 10 ? fmt::format("\n  ... and {} more", missing.size() - 10)
                          : std::string());
}

}  // namespace tokenfocus::data
