#include "data/tiny_tokenizer.h"

#include <map>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "data/tokenizer_byte_level.h"
#include "data/tokenizer_pretokenizer.h"
#include "data/tokenizer_unicode.h"

namespace tokenfocus::data {
namespace {

// Qwen2's split regex (tokenizer.json of Qwen2 / Qwen2.5 / Qwen3).
constexpr std::string_view kQwenSplitPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

using Symbols = std::vector<std::string>;  // a word as its current tokens (byte-mapped)
using Pair = std::pair<std::string, std::string>;

Symbols symbols_of(std::string_view word_bytes) {
  Symbols symbols;
  for (char c : word_bytes)
    symbols.push_back(byte_level::byte_to_unicode()[static_cast<unsigned char>(c)]);
  return symbols;
}

// Applies one merge to every occurrence in a word, left to right (as BPE encoding does).
void apply_merge(Symbols& symbols, const Pair& merge) {
  Symbols out;
  out.reserve(symbols.size());
  for (size_t i = 0; i < symbols.size(); ++i) {
    if (i + 1 < symbols.size() && symbols[i] == merge.first && symbols[i + 1] == merge.second) {
      out.push_back(merge.first + merge.second);
      ++i;
    } else {
      out.push_back(symbols[i]);
    }
  }
  symbols.swap(out);
}

nlohmann::ordered_json byte_level_component(const char* type) {
  return {
      {"type", type}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
}

}  // namespace

std::string make_tiny_tokenizer_json(const std::vector<std::string>& corpus, int64_t vocab_size) {
  const int64_t specials = static_cast<int64_t>(kTinySpecialTokens.size());
  // Each required word of n bytes needs n - 1 merges.
  int64_t required_merges = 0;
  for (const char* word : kTinyRequiredWords) required_merges += std::string(word).size() - 1;
  const int64_t minimum = 256 + required_merges + specials;
  if (vocab_size < minimum) {
    throw_user_error(
        "tiny tokenizer: vocab_size {} is too small (at least {}: 256 bytes, {} merges "
        "for yes/no/Yes/No, {} special tokens)",
        vocab_size, minimum, required_merges, specials);
  }
  const int64_t regular_budget = vocab_size - specials;

  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  std::set<std::string> known;
  for (int b = 0; b < 256; ++b) {
    vocab[byte_level::byte_to_unicode()[b]] = b;
    known.insert(byte_level::byte_to_unicode()[b]);
  }
  int64_t next_id = 256;
  std::vector<Pair> merges;
  std::set<Pair> used;
  auto add_merge = [&](const Pair& merge) {
    merges.push_back(merge);
    used.insert(merge);
    const std::string merged = merge.first + merge.second;
    if (known.insert(merged).second) vocab[merged] = next_id++;
  };

  // Corpus words, pre-tokenised exactly as encoding will see them (NFC, split regex, byte mapping).
  const SplitPattern split(kQwenSplitPattern, "tiny tokenizer");
  std::map<std::string, int64_t> word_counts;
  std::vector<std::string_view> pieces;
  for (size_t i = 0; i < corpus.size(); ++i) {
    const size_t bad = unicode::first_invalid_utf8(corpus[i]);
    if (bad != std::string::npos) {
      throw_user_error("tiny tokenizer: corpus text {} is not valid UTF-8 (byte {})", i, bad);
    }
    const std::string text = unicode::nfc(corpus[i]);
    pieces.clear();
    split.split(text, pieces);
    for (std::string_view piece : pieces) ++word_counts[std::string(piece)];
  }
  std::vector<std::pair<Symbols, int64_t>> words;
  for (const auto& [word, count] : word_counts) words.emplace_back(symbols_of(word), count);

  auto merge_everywhere = [&](const Pair& merge) {
    add_merge(merge);
    for (auto& word : words) apply_merge(word.first, merge);
  };
  // The label words first, so that they are single tokens whatever the corpus holds.
  for (const char* word : kTinyRequiredWords) {
    Symbols symbols = symbols_of(word);
    while (symbols.size() > 1) {
      const Pair merge{symbols[0], symbols[1]};
      if (!used.count(merge)) merge_everywhere(merge);
      apply_merge(symbols, merge);
    }
  }
  // Then the most frequent pairs of the corpus until the budget is spent.
  while (next_id < regular_budget) {
    std::map<Pair, int64_t> pair_counts;
    for (const auto& [symbols, count] : words) {
      for (size_t i = 0; i + 1 < symbols.size(); ++i)
        pair_counts[{symbols[i], symbols[i + 1]}] += count;
    }
    const Pair* best = nullptr;
    int64_t best_count = 0;
    for (const auto& [pair, count] : pair_counts) {  // std::map order breaks ties by text
      if (count > best_count && !used.count(pair)) {
        best = &pair;
        best_count = count;
      }
    }
    if (best == nullptr) break;  // every corpus word is a single token
    merge_everywhere(*best);
  }
  // Unreachable fillers keep the special tokens at the top ids whatever the corpus size.
  for (int64_t k = 0; next_id < regular_budget; ++k) {
    const std::string filler = "<unused_" + std::to_string(k) + ">";
    if (known.insert(filler).second) vocab[filler] = next_id++;
  }

  nlohmann::ordered_json added = nlohmann::ordered_json::array();
  for (int64_t i = 0; i < specials; ++i) {
    added.push_back({{"id", regular_budget + i},
                     {"content", kTinySpecialTokens[i]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  nlohmann::ordered_json merges_json = nlohmann::ordered_json::array();
  for (const auto& [left, right] : merges) merges_json.push_back(left + " " + right);

  nlohmann::ordered_json root;
  root["version"] = "1.0";
  root["truncation"] = nullptr;
  root["padding"] = nullptr;
  root["added_tokens"] = added;
  root["normalizer"] = {{"type", "NFC"}};
  root["pre_tokenizer"] = {{"type", "Sequence"},
                           {"pretokenizers",
                            {{{"type", "Split"},
                              {"pattern", {{"Regex", std::string(kQwenSplitPattern)}}},
                              {"behavior", "Isolated"},
                              {"invert", false}},
                             byte_level_component("ByteLevel")}}};
  root["post_processor"] = byte_level_component("ByteLevel");
  root["decoder"] = byte_level_component("ByteLevel");
  root["model"] = {{"type", "BPE"},
                   {"dropout", nullptr},
                   {"unk_token", nullptr},
                   {"continuing_subword_prefix", ""},
                   {"end_of_word_suffix", ""},
                   {"fuse_unk", false},
                   {"byte_fallback", false},
                   {"ignore_merges", false},
                   {"vocab", vocab},
                   {"merges", merges_json}};
  return root.dump(2) + "\n";
}

}  // namespace tokenfocus::data
