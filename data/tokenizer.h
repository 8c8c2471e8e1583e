// Hugging Face `tokenizer.json` byte-level BPE (the Qwen2 / Qwen2.5 family): added tokens matched
// in the raw text, NFC, the Split pre-tokenizer regex, the byte-to-unicode mapping, BPE merges by
// rank. Everything model-specific (regex, vocab, merges, added tokens) is read from the file.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tokenfocus::data {

class Tokenizer {
 public:
  // UserError naming the file on unreadable/bad JSON, missing fields or unsupported components.
  static Tokenizer from_file(const std::string& tokenizer_json_path);
  // `name` stands for the file in error messages.
  static Tokenizer from_json_text(const std::string& json, const std::string& name);

  // Hugging Face `encode(text, add_special_tokens=False)`: added tokens written in the text are
  // matched (never split); no post-processor tokens are added. Thread-safe.
  std::vector<int64_t> encode(std::string_view text) const;
  // Hugging Face `decode(ids, skip_special_tokens=False)`; invalid UTF-8 becomes U+FFFD.
  std::string decode(const std::vector<int64_t>& ids) const;
  // Exact lookup of a token string as stored (byte-mapped form, e.g. "Ġyes") or an added token.
  std::optional<int64_t> token_id(std::string_view token) const;
  // The stored form of one id (byte-mapped for BPE tokens), as Hugging Face's id_to_token.
  std::optional<std::string> id_to_token(int64_t id) const;
  int64_t vocab_size() const;  // max id + 1 over the vocabulary and the added tokens
  const std::string& name() const;

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;  // immutable after loading: copies share it
};

}  // namespace tokenfocus::data
