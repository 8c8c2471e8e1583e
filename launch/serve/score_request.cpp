#include "launch/serve/score_request.h"

#include <cstdint>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "launch/serve/request_error.h"

namespace tokenfocus::launch::serve {
namespace {

using nlohmann::json;

json parse_body(const std::string& body) {
  try {
    return json::parse(body);
  } catch (const json::parse_error& e) {
    throw RequestError(400, "", fmt::format("body is not JSON: {}", e.what()));
  }
}

// The object at `where`, with only `known` fields (others are a 400 naming the first).
const json& object_with(const json& value, const std::string& where,
                        std::initializer_list<const char*> known) {
  if (!value.is_object()) throw RequestError(400, where, "must be a JSON object");
  for (const auto& [key, unused] : value.items()) {
    (void)unused;
    bool found = false;
    for (const char* k : known) found = found || key == k;
    if (!found) {
      std::string list;
      for (const char* k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      throw RequestError(400, where, fmt::format("unknown field '{}' (known: {})", key, list));
    }
  }
  return value;
}

const json& array_at(const json& object, const char* key, const std::string& where) {
  if (!object.contains(key)) throw RequestError(400, where, fmt::format("needs '{}'", key));
  const json& value = object.at(key);
  if (!value.is_array())
    throw RequestError(400, fmt::format("{}.{}", where, key), "must be a JSON array");
  return value;
}

std::string string_at(const json& value, const std::string& where, size_t max_bytes) {
  if (!value.is_string()) throw RequestError(400, where, "must be a string");
  std::string s = value.get<std::string>();
  if (s.find_first_not_of(" \t\r\n") == std::string::npos)
    throw RequestError(400, where, "must not be empty");
  if (s.size() > max_bytes)
    throw RequestError(
        400, where, fmt::format("{} bytes, more than the {} a text may have", s.size(), max_bytes));
  return s;
}

std::string text_at(const json& value, const std::string& where) {
  return string_at(value, where, kMaxTextBytes);
}

ImageRef image_at(const json& value, const std::string& where) {
  const json& image = object_with(value, where, {"path", "base64"});
  ImageRef ref;
  ref.where = where;
  const bool path = image.contains("path"), base64 = image.contains("base64");
  if (path == base64) throw RequestError(400, where, "needs exactly one of 'path' and 'base64'");
  if (path) ref.path = text_at(image.at("path"), where + ".path");
  if (base64) ref.base64 = string_at(image.at("base64"), where + ".base64", SIZE_MAX);
  return ref;
}

std::vector<std::string> elements_at(const json& value, const std::string& where) {
  if (!value.is_array()) throw RequestError(400, where, "must be a JSON array of strings");
  if (value.size() > kMaxElements)
    throw RequestError(
        400, where,
        fmt::format("{} elements, more than the {} an item may have", value.size(), kMaxElements));
  std::vector<std::string> elements;
  for (size_t e = 0; e < value.size(); ++e)
    elements.push_back(text_at(value[e], fmt::format("{}[{}]", where, e)));
  return elements;
}

void check_count(size_t count, size_t max_items) {
  if (count > max_items)
    throw RequestError(413, "",
                       fmt::format("{} images in one request; this server takes at most {} "
                                   "(--max-queue): split the request",
                                   count, max_items));
}

}  // namespace

std::vector<ScoreItem> parse_score_request(const std::string& body, size_t max_items) {
  const json root = parse_body(body);
  object_with(root, "body", {"items"});
  const json& items = array_at(root, "items", "body");
  if (items.empty()) throw RequestError(400, "items", "must hold at least one item");
  check_count(items.size(), max_items);
  std::vector<ScoreItem> out;
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string where = fmt::format("items[{}]", i);
    const json& item = object_with(items[i], where, {"image", "prompt", "elements"});
    if (!item.contains("image")) throw RequestError(400, where, "needs 'image'");
    if (!item.contains("prompt")) throw RequestError(400, where, "needs 'prompt'");
    ScoreItem s;
    s.image = image_at(item.at("image"), where + ".image");
    s.prompt = text_at(item.at("prompt"), where + ".prompt");
    if (item.contains("elements"))
      s.elements = elements_at(item.at("elements"), where + ".elements");
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<PromptGroup> parse_pairs_request(const std::string& body, size_t max_items) {
  const json root = parse_body(body);
  object_with(root, "body", {"groups"});
  const json& groups = array_at(root, "groups", "body");
  if (groups.empty()) throw RequestError(400, "groups", "must hold at least one group");
  std::vector<PromptGroup> out;
  size_t total = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::string where = fmt::format("groups[{}]", g);
    const json& group = object_with(groups[g], where, {"prompts", "images", "elements"});
    const json& prompts = array_at(group, "prompts", where);
    const json& images = array_at(group, "images", where);
    if (prompts.empty() || prompts.size() > 2)
      throw RequestError(400, where + ".prompts", "must hold one prompt or a pair of two");
    if (images.size() != prompts.size())
      throw RequestError(400, where + ".images",
                         fmt::format("must hold one list of images per prompt ({}), not {}",
                                     prompts.size(), images.size()));
    std::vector<std::vector<std::string>> elements(prompts.size());
    if (group.contains("elements")) {
      const json& e = group.at("elements");
      if (!e.is_array() || e.size() != prompts.size())
        throw RequestError(400, where + ".elements", "must hold one list of elements per prompt");
      for (size_t p = 0; p < prompts.size(); ++p)
        elements[p] = elements_at(e[p], fmt::format("{}.elements[{}]", where, p));
    }
    PromptGroup parsed;
    parsed.prompts = prompts.size();
    for (size_t p = 0; p < prompts.size(); ++p) {
      const std::string prompt = text_at(prompts[p], fmt::format("{}.prompts[{}]", where, p));
      const std::string list = fmt::format("{}.images[{}]", where, p);
      if (!images[p].is_array() || images[p].empty())
        throw RequestError(400, list, "must be a non-empty JSON array of images");
      parsed.images_per_prompt.push_back(images[p].size());
      for (size_t i = 0; i < images[p].size(); ++i) {
        ScoreItem item;
        item.image = image_at(images[p][i], fmt::format("{}[{}]", list, i));
        item.prompt = prompt;
        item.elements = elements[p];
        parsed.items.push_back(std::move(item));
      }
    }
    if (parsed.items.size() < 2)
      throw RequestError(400, where + ".images",
                         "needs at least two images in all: advantages normalise over the group");
    total += parsed.items.size();
    check_count(total, max_items);
    out.push_back(std::move(parsed));
  }
  return out;
}

}  // namespace tokenfocus::launch::serve
