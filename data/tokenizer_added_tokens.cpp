#include "data/tokenizer_added_tokens.h"

#include <algorithm>

#include "data/tokenizer_unicode.h"

namespace tokenfocus::data {

AddedTokenMatcher::AddedTokenMatcher(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) {
  for (uint32_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i].content.empty()) continue;
    by_first_byte_[static_cast<unsigned char>(tokens_[i].content[0])].push_back(i);
  }
  for (auto& bucket : by_first_byte_) {
    std::stable_sort(bucket.begin(), bucket.end(), [&](uint32_t a, uint32_t b) {
      return tokens_[a].content.size() > tokens_[b].content.size();
    });
  }
}

namespace {

bool ends_with_word(std::string_view text, size_t end) {
  if (end == 0) return false;
  return unicode::is_alphanumeric(unicode::previous_code_point(text, end));
}

bool starts_with_word(std::string_view text, size_t begin) {
  if (begin >= text.size()) return false;
  return unicode::is_alphanumeric(unicode::next_code_point(text, begin));
}

}  // namespace

void AddedTokenMatcher::split(std::string_view text, std::vector<TextSegment>& segments) const {
  size_t plain_start = 0;  // start of the ordinary run not yet emitted
  size_t pos = 0;
  while (pos < text.size()) {
    const auto& bucket = by_first_byte_[static_cast<unsigned char>(text[pos])];
    const AddedToken* found = nullptr;
    for (uint32_t index : bucket) {
      const AddedToken& token = tokens_[index];
      if (text.compare(pos, token.content.size(), token.content) != 0) continue;
      if (token.single_word &&
          (ends_with_word(text, pos) || starts_with_word(text, pos + token.content.size()))) {
        continue;
      }
      found = &token;
      break;
    }
    if (found == nullptr) {
      ++pos;
      continue;
    }
    size_t begin = pos;
    size_t end = pos + found->content.size();
    if (found->lstrip) {  // swallow whitespace back to the previous match at most
      size_t back = begin;
      while (back > plain_start) {
        size_t prev = back;
        if (!unicode::is_white_space(unicode::previous_code_point(text, prev))) break;
        back = prev;
      }
      begin = back;
    }
    if (found->rstrip) {
      while (end < text.size()) {
        size_t next = end;
        if (!unicode::is_white_space(unicode::next_code_point(text, next))) break;
        end = next;
      }
    }
    if (begin > plain_start) segments.push_back(TextSegment{plain_start, begin, -1});
    segments.push_back(TextSegment{begin, end, found->id});
    plain_start = end;
    pos = end;
  }
  if (plain_start < text.size()) segments.push_back(TextSegment{plain_start, text.size(), -1});
}

}  // namespace tokenfocus::data
