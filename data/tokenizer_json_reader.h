// Reads a tokenizer.json in one pass. The two big members (model.vocab, ~150k entries, and
// model.merges, ~150k pairs) go straight into their final containers through nlohmann's SAX
// interface instead of a JSON DOM, which would cost more than the whole rest of loading.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace tokenfocus::data {

struct TokenizerFile {
  nlohmann::json rest;  // the whole file without model.vocab and model.merges
  bool has_vocab = false;
  bool has_merges = false;
  std::unordered_map<std::string, int64_t> vocab;
  std::vector<std::pair<std::string, std::string>> merges;  // "a b" strings or ["a", "b"] pairs
};

// UserError naming `where` on invalid JSON, a non-object vocab, a non-integer id or a malformed
// merge.
TokenizerFile read_tokenizer_json(const std::string& text, const std::string& where);

}  // namespace tokenfocus::data
