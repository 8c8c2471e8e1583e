#include "data/tokenizer_pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "common/error.h"
#include "data/tokenizer_unicode_tables.h"

namespace tokenfocus::data {
namespace {

// Oniguruma's Unicode \s: U+0009-000D, U+0085 and the separators Zs, Zl, Zp.
constexpr std::string_view kWhiteSpaceClassBody = R"(\t-\r\x{85}\p{Z})";

// PCRE2 10.42 knows Unicode 14.0; the letters and numbers Unicode 15.0 added (known to
// Oniguruma in Hugging Face tokenizers) are listed explicitly next to \p{L} / \p{N}.
std::string class_body_with_new(std::string_view property, const unicode::CodePointRange* ranges,
                                size_t count) {
  std::string body(property);
  for (size_t i = 0; i < count; ++i) {
    body += fmt::format("\\x{{{:X}}}", static_cast<uint32_t>(ranges[i].first));
    if (ranges[i].last != ranges[i].first) {
      body += fmt::format("-\\x{{{:X}}}", static_cast<uint32_t>(ranges[i].last));
    }
  }
  return body;
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof buffer);
  return reinterpret_cast<const char*>(buffer);
}

}  // namespace

std::string pattern_with_oniguruma_whitespace(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 64);
  bool in_class = false;
  size_t class_start = 0;  // index in `pattern` right after "[" or "[^"
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char next = pattern[++i];
      if (next == 's') {
        if (in_class) {
          out += kWhiteSpaceClassBody;
        } else {
          out += '[';
          out += kWhiteSpaceClassBody;
          out += ']';
        }
      } else if (next == 'p' &&
                 (pattern.substr(i + 1, 3) == "{L}" || pattern.substr(i + 1, 3) == "{N}")) {
        const bool letters = pattern[i + 2] == 'L';
        const std::string body =
            letters ? class_body_with_new("\\p{L}", unicode::kLettersNewInUnicode15,
                                          unicode::kLettersNewInUnicode15Count)
                    : class_body_with_new("\\p{N}", unicode::kNumbersNewInUnicode15,
                                          unicode::kNumbersNewInUnicode15Count);
        out += in_class ? body : "[" + body + "]";
        i += 3;
      } else if (next == 'S' && !in_class) {
        out += "[^";
        out += kWhiteSpaceClassBody;
        out += ']';
      } else {
        out += c;
        out += next;
      }
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      class_start = i + 1;
      continue;
    }
    if (in_class && c == ']' && i != class_start) in_class = false;  // "[]...]" keeps a literal ]
    out += c;
  }
  return out;
}

struct SplitPattern::Compiled {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Compiled() { pcre2_code_free(code); }
};

SplitPattern::SplitPattern(std::string_view pattern, const std::string& where)
    : compiled_(std::make_unique<Compiled>()) {
  const std::string rewritten = pattern_with_oniguruma_whitespace(pattern);
  int error = 0;
  PCRE2_SIZE offset = 0;
  compiled_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rewritten.data()), rewritten.size(),
                                  PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
  if (compiled_->code == nullptr) {
    throw_user_error("{}: the split regex does not compile ({} near offset {}): {}", where,
                     pcre2_message(error), offset, pattern);
  }
  compiled_->jit = pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE) == 0;
}

SplitPattern::~SplitPattern() = default;

void SplitPattern::split(std::string_view text, std::vector<std::string_view>& pieces) const {
  // Match data is per call so that concurrent encode() calls never share it.
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
      pcre2_match_data_create_from_pattern(compiled_->code, nullptr), &pcre2_match_data_free);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t start = 0;  // where the next search begins
  size_t gap = 0;    // end of the last piece emitted
  while (start < text.size()) {
    int rc = pcre2_match(compiled_->code, subject, text.size(), start, PCRE2_NO_UTF_CHECK,
                         match.get(), nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {  // very long runs: the interpreter has no such limit
      rc = pcre2_match(compiled_->code, subject, text.size(), start,
                       PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, match.get(), nullptr);
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) throw_internal_error("split regex failed: {}", pcre2_message(rc));
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.get());
    const size_t begin = ovector[0];
    const size_t end = ovector[1];
    if (end == begin) {  // an empty match splits nothing; step over one code point
      size_t next = begin;
      do ++next;
      while (next < text.size() && (static_cast<unsigned char>(text[next]) & 0xC0) == 0x80);
      start = next;
      continue;
    }
    if (begin > gap) pieces.push_back(text.substr(gap, begin - gap));
    pieces.push_back(text.substr(begin, end - begin));
    gap = end;
    start = end;
  }
  if (gap < text.size()) pieces.push_back(text.substr(gap));
}

}  // namespace tokenfocus::data
