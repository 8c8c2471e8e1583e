#include "data/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "data/tokenizer_added_tokens.h"
#include "data/tokenizer_bpe.h"
#include "data/tokenizer_byte_level.h"
#include "data/tokenizer_json_reader.h"
#include "data/tokenizer_pretokenizer.h"
#include "data/tokenizer_unicode.h"

namespace tokenfocus::data {

using nlohmann::json;

struct Tokenizer::Impl {
  std::string name;
  bool nfc = false;
  std::unique_ptr<AddedTokenMatcher> raw_added;         // normalized == false
  std::unique_ptr<AddedTokenMatcher> normalized_added;  // normalized == true
  std::unordered_map<std::string, int64_t> added_by_content;
  std::unordered_map<int64_t, std::string> added_by_id;
  std::vector<std::unique_ptr<SplitPattern>> splits;  // applied in order, each refines the pieces
  bool add_prefix_space = false;
  std::unique_ptr<BpeModel> model;
  bool byte_level_decoder = false;
  int64_t vocab_size = 0;
  WordCache cache;

  void encode_plain(std::string_view normalized, std::vector<int64_t>& ids) const;
  void encode_word(std::string_view word, std::vector<int64_t>& ids) const;
};

namespace {

// Reading helpers: every error names the file and the JSON key path.
const json& member(const json& object, const char* key, const std::string& path,
                   const std::string& where) {
  if (!object.is_object() || !object.contains(key)) {
    throw_user_error("{}: missing key \"{}\"", where, path.empty() ? key : path + "." + key);
  }
  return object.at(key);
}

std::string string_member(const json& object, const char* key, const std::string& path,
                          const std::string& where) {
  const json& value = member(object, key, path, where);
  if (!value.is_string()) throw_user_error("{}: \"{}.{}\" must be a string", where, path, key);
  return value.get<std::string>();
}

bool bool_member(const json& object, const char* key, bool fallback, const std::string& path,
                 const std::string& where) {
  if (!object.contains(key) || object.at(key).is_null()) return fallback;
  if (!object.at(key).is_boolean())
    throw_user_error("{}: \"{}.{}\" must be true or false", where, path, key);
  return object.at(key).get<bool>();
}

std::string type_of(const json& component, const std::string& path, const std::string& where) {
  return string_member(component, "type", path, where);
}

std::unique_ptr<BpeModel> read_model(TokenizerFile& file, const std::string& where) {
  const json& model = member(file.rest, "model", "", where);
  if (model.contains("type") && type_of(model, "model", where) != "BPE") {
    throw_user_error("{}: model.type is \"{}\"; only BPE (byte-level) tokenizers are supported",
                     where, model.at("type").get<std::string>());
  }
  if (model.contains("dropout") && !model.at("dropout").is_null()) {
    throw_user_error("{}: model.dropout is set; BPE dropout is for training only and not supported",
                     where);
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(key) && !model.at(key).is_null() &&
        !(model.at(key).is_string() && model.at(key).get<std::string>().empty())) {
      throw_user_error("{}: model.{} is not supported by byte-level BPE", where, key);
    }
  }
  if (bool_member(model, "byte_fallback", false, "model", where)) {
    throw_user_error("{}: model.byte_fallback is not supported (byte-level BPE has every byte)",
                     where);
  }
  if (!file.has_vocab) throw_user_error("{}: missing key \"model.vocab\"", where);
  if (!file.has_merges) throw_user_error("{}: missing key \"model.merges\"", where);
  std::unordered_map<std::string, int64_t>& vocab = file.vocab;
  std::optional<int64_t> unk_id;
  if (model.contains("unk_token") && !model.at("unk_token").is_null()) {
    const std::string unk = string_member(model, "unk_token", "model", where);
    const auto it = vocab.find(unk);
    if (it == vocab.end())
      throw_user_error("{}: model.unk_token \"{}\" is not in model.vocab", where, unk);
    unk_id = it->second;
  }
  return std::make_unique<BpeModel>(std::move(vocab), file.merges,
                                    bool_member(model, "ignore_merges", false, "model", where),
                                    unk_id, where);
}

bool read_normalizer(const json& root, const std::string& where) {
  if (!root.contains("normalizer") || root.at("normalizer").is_null()) return false;
  const json& normalizer = root.at("normalizer");
  const std::string type = type_of(normalizer, "normalizer", where);
  if (type == "NFC") return true;
  if (type == "Sequence") {
    const json& list = member(normalizer, "normalizers", "normalizer", where);
    bool nfc = false;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string inner =
          type_of(list[i], fmt::format("normalizer.normalizers[{}]", i), where);
      if (inner != "NFC") {
        throw_user_error("{}: normalizer.normalizers[{}] has type \"{}\"; only NFC is supported",
                         where, i, inner);
      }
      nfc = true;
    }
    return nfc;
  }
  throw_user_error("{}: normalizer type \"{}\" is not supported (only NFC)", where, type);
}

void read_pre_tokenizer(const json& root, Tokenizer::Impl& impl, const std::string& where) {
  if (!root.contains("pre_tokenizer") || root.at("pre_tokenizer").is_null()) {
    throw_user_error(
        "{}: pre_tokenizer is null; only byte-level BPE (ByteLevel pre-tokenizer) is "
        "supported",
        where);
  }
  const json& pre = root.at("pre_tokenizer");
  std::vector<std::pair<const json*, std::string>> steps;  // component and its key path
  if (type_of(pre, "pre_tokenizer", where) == "Sequence") {
    const json& list = member(pre, "pretokenizers", "pre_tokenizer", where);
    for (size_t i = 0; i < list.size(); ++i) {
      steps.emplace_back(&list[i], fmt::format("pre_tokenizer.pretokenizers[{}]", i));
    }
  } else {
    steps.emplace_back(&pre, "pre_tokenizer");
  }
  bool byte_level = false;
  for (const auto& [step, path] : steps) {
    const std::string type = type_of(*step, path, where);
    if (byte_level) {
      throw_user_error("{}: {} ({}) comes after ByteLevel; ByteLevel must be the last step", where,
                       path, type);
    }
    if (type == "Split") {
      const json& pattern = member(*step, "pattern", path, where);
      std::string regex;
      if (pattern.contains("Regex")) {
        regex = string_member(pattern, "Regex", path + ".pattern", where);
      } else {  // a literal string: quote it for the regex engine
        regex = "\\Q" + string_member(pattern, "String", path + ".pattern", where) + "\\E";
      }
      const std::string behavior = string_member(*step, "behavior", path, where);
      if (behavior != "Isolated") {
        throw_user_error("{}: {}.behavior \"{}\" is not supported (only Isolated)", where, path,
                         behavior);
      }
      if (bool_member(*step, "invert", false, path, where)) {
        throw_user_error("{}: {}.invert = true is not supported", where, path);
      }
      impl.splits.push_back(std::make_unique<SplitPattern>(regex, where + " " + path + ".pattern"));
    } else if (type == "ByteLevel") {
      byte_level = true;
      impl.add_prefix_space = bool_member(*step, "add_prefix_space", false, path, where);
      if (bool_member(*step, "use_regex", true, path, where)) {
        impl.splits.push_back(
            std::make_unique<SplitPattern>(kGpt2SplitPattern, where + " " + path));
      }
    } else {
      throw_user_error("{}: {} type \"{}\" is not supported (Split and ByteLevel are)", where, path,
                       type);
    }
  }
  if (!byte_level) {
    throw_user_error(
        "{}: the pre_tokenizer has no ByteLevel step; only byte-level BPE is supported", where);
  }
}

bool read_decoder(const json& root, const std::string& where) {
  if (!root.contains("decoder") || root.at("decoder").is_null()) return false;
  const std::string type = type_of(root.at("decoder"), "decoder", where);
  if (type != "ByteLevel") {
    throw_user_error("{}: decoder type \"{}\" is not supported (only ByteLevel)", where, type);
  }
  return true;
}

std::vector<AddedToken> read_added_tokens(const json& root, const std::string& where) {
  std::vector<AddedToken> tokens;
  if (!root.contains("added_tokens") || root.at("added_tokens").is_null()) return tokens;
  const json& list = root.at("added_tokens");
  if (!list.is_array()) throw_user_error("{}: \"added_tokens\" must be a list", where);
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string path = fmt::format("added_tokens[{}]", i);
    const json& entry = list[i];
    AddedToken token;
    const json& id = member(entry, "id", path, where);
    if (!id.is_number_integer() || id.get<int64_t>() < 0) {
      throw_user_error("{}: {}.id must be a non-negative integer, got {}", where, path, id.dump());
    }
    token.id = id.get<int64_t>();
    token.content = string_member(entry, "content", path, where);
    if (token.content.empty()) throw_user_error("{}: {}.content is empty", where, path);
    token.special = bool_member(entry, "special", false, path, where);
    token.lstrip = bool_member(entry, "lstrip", false, path, where);
    token.rstrip = bool_member(entry, "rstrip", false, path, where);
    token.single_word = bool_member(entry, "single_word", false, path, where);
    token.normalized = bool_member(entry, "normalized", true, path, where);
    tokens.push_back(std::move(token));
  }
  return tokens;
}

}  // namespace

void Tokenizer::Impl::encode_word(std::string_view word, std::vector<int64_t>& ids) const {
  if (cache.lookup(word, ids)) return;
  const size_t first = ids.size();
  std::string mapped;
  mapped.reserve(word.size() * 2);
  byte_level::append_mapped(word, mapped);
  model->encode_word(mapped, ids);
  cache.insert(word, ids.data() + first, ids.size() - first);
}

void Tokenizer::Impl::encode_plain(std::string_view text, std::vector<int64_t>& ids) const {
  std::vector<std::string_view> pieces{text};
  std::vector<std::string_view> refined;
  for (const auto& split : splits) {
    refined.clear();
    for (std::string_view piece : pieces) split->split(piece, refined);
    pieces.swap(refined);
  }
  for (std::string_view piece : pieces) {
    if (add_prefix_space && (piece.empty() || piece.front() != ' ')) {
      encode_word(" " + std::string(piece), ids);
    } else {
      encode_word(piece, ids);
    }
  }
}

Tokenizer::Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

Tokenizer Tokenizer::from_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_user_error("{}: cannot open the tokenizer file", path);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) throw_user_error("{}: cannot read the tokenizer file", path);
  return from_json_text(text.str(), path);
}

Tokenizer Tokenizer::from_json_text(const std::string& json_text, const std::string& name) {
  TokenizerFile file = read_tokenizer_json(json_text, name);
  const json& root = file.rest;
  if (!root.is_object()) throw_user_error("{}: a tokenizer.json must hold a JSON object", name);
  auto impl = std::make_shared<Impl>();
  impl->name = name;
  impl->model = read_model(file, name);
  impl->nfc = read_normalizer(root, name);
  read_pre_tokenizer(root, *impl, name);
  impl->byte_level_decoder = read_decoder(root, name);

  std::vector<AddedToken> raw, normalized;
  int64_t max_id = impl->model->max_id();
  for (auto& token : read_added_tokens(root, name)) {
    max_id = std::max(max_id, token.id);
    impl->added_by_content[token.content] = token.id;
    impl->added_by_id[token.id] = token.content;
    (token.normalized && impl->nfc ? normalized : raw).push_back(std::move(token));
  }
  impl->raw_added = std::make_unique<AddedTokenMatcher>(std::move(raw));
  impl->normalized_added = std::make_unique<AddedTokenMatcher>(std::move(normalized));
  impl->vocab_size = max_id + 1;
  return Tokenizer(std::move(impl));
}

std::vector<int64_t> Tokenizer::encode(std::string_view text) const {
  const size_t bad = unicode::first_invalid_utf8(text);
  if (bad != std::string_view::npos) {
    throw_user_error("text to tokenize is not valid UTF-8 (byte {} of {})", bad, text.size());
  }
  const Impl& impl = *impl_;
  std::vector<int64_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<TextSegment> segments;
  impl.raw_added->split(text, segments);
  std::vector<TextSegment> inner;
  for (const TextSegment& segment : segments) {
    if (segment.added_id >= 0) {
      ids.push_back(segment.added_id);
      continue;
    }
    const std::string_view raw = text.substr(segment.begin, segment.end - segment.begin);
    const std::string normalized = impl.nfc ? unicode::nfc(raw) : std::string(raw);
    if (impl.normalized_added->empty()) {
      impl.encode_plain(normalized, ids);
      continue;
    }
    inner.clear();
    impl.normalized_added->split(normalized, inner);
    for (const TextSegment& part : inner) {
      if (part.added_id >= 0) {
        ids.push_back(part.added_id);
      } else {
        impl.encode_plain(std::string_view(normalized).substr(part.begin, part.end - part.begin),
                          ids);
      }
    }
  }
  return ids;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids) const {
  const Impl& impl = *impl_;
  std::string bytes;
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string* token = nullptr;
    const auto added = impl.added_by_id.find(ids[i]);
    if (added != impl.added_by_id.end()) {
      token = &added->second;
    } else {
      token = impl.model->id_to_token(ids[i]);
    }
    if (token == nullptr) {
      throw_user_error(
          "{}: cannot decode id {} (position {}): no token has this id (vocab size {})", impl.name,
          ids[i], i, impl.vocab_size);
    }
    if (impl.byte_level_decoder) {
      byte_level::append_unmapped(*token, bytes);
    } else {
      bytes += *token;
    }
  }
  return unicode::from_utf8_lossy(bytes);
}

std::optional<int64_t> Tokenizer::token_id(std::string_view token) const {
  const auto added = impl_->added_by_content.find(std::string(token));
  if (added != impl_->added_by_content.end()) return added->second;
  return impl_->model->token_to_id(token);
}

std::optional<std::string> Tokenizer::id_to_token(int64_t id) const {
  const auto added = impl_->added_by_id.find(id);
  if (added != impl_->added_by_id.end()) return added->second;
  if (const std::string* token = impl_->model->id_to_token(id)) return *token;
  return std::nullopt;
}

int64_t Tokenizer::vocab_size() const {
  return impl_->vocab_size;
}

const std::string& Tokenizer::name() const {
  return impl_->name;
}

}  // namespace tokenfocus::data
