#include "data/tokenizer_json_reader.h"

#include "common/error.h"

namespace tokenfocus::data {
namespace {

using json = nlohmann::json;
using DomBuilder = nlohmann::detail::json_sax_dom_parser<json>;

// Forwards every event to a DOM builder except those of model.vocab and model.merges, which it
// collects itself. Depth counts open containers; the root object is depth 1.
class Reader {
 public:
  Reader(TokenizerFile& file, const std::string& where)
      : file_(file), where_(where), dom_(file.rest, true) {}

  bool null() {
    return scalar("null", [&] { return dom_.null(); });
  }
  bool boolean(bool v) {
    return scalar(v ? "true" : "false", [&] { return dom_.boolean(v); });
  }
  bool number_integer(json::number_integer_t v) {
    if (mode_ == Mode::kVocab && depth_ == 3) return vocab_id(v);
    return scalar(std::to_string(v), [&] { return dom_.number_integer(v); });
  }
  bool number_unsigned(json::number_unsigned_t v) {
    if (mode_ == Mode::kVocab && depth_ == 3) {
      if (v > static_cast<json::number_unsigned_t>(INT32_MAX)) return vocab_id(-1);
      return vocab_id(static_cast<int64_t>(v));
    }
    return scalar(std::to_string(v), [&] { return dom_.number_unsigned(v); });
  }
  bool number_float(json::number_float_t v, const std::string& s) {
    return scalar(s, [&] { return dom_.number_float(v, s); });
  }
  bool string(std::string& v) {
    if (mode_ == Mode::kMerges && depth_ == 3) return merge_string(v);
    if (mode_ == Mode::kMerges && depth_ == 4) {
      pair_parts_.push_back(std::move(v));
      return true;
    }
    return scalar("\"" + v + "\"", [&] { return dom_.string(v); });
  }
  bool binary(json::binary_t& v) { return dom_.binary(v); }

  bool start_object(std::size_t n) {
    ++depth_;
    if (mode_ == Mode::kVocabPending) {
      mode_ = Mode::kVocab;
      file_.has_vocab = true;
      return true;
    }
    if (mode_ == Mode::kMergesPending)
      throw_user_error("{}: \"model.merges\" must be a list", where_);
    if (mode_ == Mode::kMerges) bad_merge("an object");
    if (mode_ == Mode::kVocab) bad_vocab("an object");
    return dom_.start_object(n);
  }
  bool end_object() {
    --depth_;
    if (mode_ == Mode::kVocab && depth_ == 2) {
      mode_ = Mode::kNone;
      return true;
    }
    if (depth_ == 1) in_model_ = false;
    return dom_.end_object();
  }
  bool key(std::string& k) {
    if (mode_ == Mode::kVocab) {
      vocab_key_ = std::move(k);
      return true;
    }
    if (depth_ == 1) in_model_ = k == "model";
    if (depth_ == 2 && in_model_ && k == "vocab") {
      mode_ = Mode::kVocabPending;
      return true;
    }
    if (depth_ == 2 && in_model_ && k == "merges") {
      mode_ = Mode::kMergesPending;
      return true;
    }
    return dom_.key(k);
  }
  bool start_array(std::size_t n) {
    ++depth_;
    if (mode_ == Mode::kVocabPending)
      throw_user_error("{}: \"model.vocab\" must be an object", where_);
    if (mode_ == Mode::kMergesPending) {
      mode_ = Mode::kMerges;
      file_.has_merges = true;
      return true;
    }
    if (mode_ == Mode::kMerges && depth_ == 4) {
      pair_parts_.clear();
      return true;
    }
    if (mode_ == Mode::kMerges) bad_merge("a nested list");
    if (mode_ == Mode::kVocab) bad_vocab("a list");
    return dom_.start_array(n);
  }
  bool end_array() {
    --depth_;
    if (mode_ == Mode::kMerges && depth_ == 3) {  // end of one ["a", "b"] pair
      if (pair_parts_.size() != 2) bad_merge("a list of " + std::to_string(pair_parts_.size()));
      file_.merges.emplace_back(std::move(pair_parts_[0]), std::move(pair_parts_[1]));
      return true;
    }
    if (mode_ == Mode::kMerges && depth_ == 2) {
      mode_ = Mode::kNone;
      return true;
    }
    return dom_.end_array();
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    throw_user_error("{}: not valid JSON ({})", where_, e.what());
  }

 private:
  enum class Mode { kNone, kVocabPending, kVocab, kMergesPending, kMerges };

  template <class Forward>
  bool scalar(const std::string& text, Forward forward) {
    if (mode_ == Mode::kVocabPending)
      throw_user_error("{}: \"model.vocab\" must be an object", where_);
    if (mode_ == Mode::kMergesPending)
      throw_user_error("{}: \"model.merges\" must be a list", where_);
    if (mode_ == Mode::kVocab) bad_vocab(text);
    if (mode_ == Mode::kMerges) bad_merge(text);
    return forward();
  }
  bool vocab_id(int64_t id) {
    if (id < 0 || id > INT32_MAX) {
      throw_user_error("{}: model.vocab[\"{}\"] = {} is not a valid id", where_, vocab_key_, id);
    }
    file_.vocab.emplace(std::move(vocab_key_), id);
    return true;
  }
  bool merge_string(const std::string& text) {
    const size_t space = text.find(' ');
    if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos) {
      throw_user_error("{}: model.merges[{}] = \"{}\" is not two tokens separated by one space",
                       where_, file_.merges.size(), text);
    }
    file_.merges.emplace_back(text.substr(0, space), text.substr(space + 1));
    return true;
  }
  [[noreturn]] void bad_vocab(const std::string& got) {
    throw_user_error("{}: model.vocab[\"{}\"] must be an integer id, got {}", where_, vocab_key_,
                     got);
  }
  [[noreturn]] void bad_merge(const std::string& got) {
    throw_user_error("{}: model.merges[{}] must be \"a b\" or [\"a\", \"b\"], got {}", where_,
                     file_.merges.size(), got);
  }

  TokenizerFile& file_;
  const std::string& where_;
  DomBuilder dom_;
  Mode mode_ = Mode::kNone;
  int depth_ = 0;
  bool in_model_ = false;
  std::string vocab_key_;
  std::vector<std::string> pair_parts_;
};

}  // namespace

TokenizerFile read_tokenizer_json(const std::string& text, const std::string& where) {
  TokenizerFile file;
  file.vocab.reserve(1 << 16);
  Reader reader(file, where);
  json::sax_parse(text, &reader);
  return file;
}

}  // namespace tokenfocus::data
