// The regex that splits text into words before BPE (Hugging Face's Split pre-tokenizer with
// behavior "Isolated", and ByteLevel's built-in GPT-2 regex). Compiled once with PCRE2 in UTF + UCP
// mode (JIT when available); matching is thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tokenfocus::data {

// GPT-2's pattern, used by a ByteLevel pre-tokenizer with use_regex=true.
inline constexpr std::string_view kGpt2SplitPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Oniguruma (which Hugging Face uses) and PCRE2 disagree on one \s character (U+180E): rewrite
// \s and \S outside and \s inside character classes to Oniguruma's set. Exposed for tests.
std::string pattern_with_oniguruma_whitespace(std::string_view pattern);

class SplitPattern {
 public:
  // UserError naming `where` (file and key) when the pattern does not compile.
  SplitPattern(std::string_view pattern, const std::string& where);
  ~SplitPattern();
  SplitPattern(const SplitPattern&) = delete;
  SplitPattern& operator=(const SplitPattern&) = delete;

  // Appends every match and every gap between matches, in order ("Isolated"). `text` must be
  // valid UTF-8.
  void split(std::string_view text, std::vector<std::string_view>& pieces) const;

 private:
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
};

}  // namespace tokenfocus::data
