// Added tokens (<|im_start|>, <|image_pad|>, <think>, ...): found in the text before anything else
// touches it and never split. Leftmost match wins, the longest one at that position, as Hugging
// Face's AddedVocabulary does.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tokenfocus::data {

struct AddedToken {
  std::string content;
  int64_t id = -1;
  bool special = false;
  bool lstrip = false;       // the match swallows whitespace on its left
  bool rstrip = false;       // ... and on its right
  bool single_word = false;  // only matches when not inside a word
  bool normalized = false;   // matched in the normalised text instead of the raw text
};

struct TextSegment {
  size_t begin = 0;
  size_t end = 0;
  int64_t added_id = -1;  // -1: ordinary text to normalise and BPE
};

class AddedTokenMatcher {
 public:
  explicit AddedTokenMatcher(std::vector<AddedToken> tokens);
  bool empty() const { return tokens_.empty(); }
  // Splits valid UTF-8 `text` into ordinary runs and added tokens (in order, covering the text).
  void split(std::string_view text, std::vector<TextSegment>& segments) const;

 private:
  std::vector<AddedToken> tokens_;
  std::array<std::vector<uint32_t>, 256> by_first_byte_;  // token indices, longest first
};

}  // namespace tokenfocus::data
