// UTF-8 helpers the tokenizer needs: validation, NFC (libutf8proc), lossy decoding as Rust's
// String::from_utf8_lossy does it, and the two character predicates added tokens use.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tokenfocus::data::unicode {

struct CodePointRange;
// Whether c lies in one of `count` sorted, disjoint ranges.
bool in_ranges(char32_t c, const CodePointRange* ranges, size_t count);

// Byte offset of the first invalid UTF-8 sequence, or npos when the text is valid.
size_t first_invalid_utf8(std::string_view text);
// Unicode Normalization Form C of valid UTF-8 text as Hugging Face computes it (Unicode 9.0
// tables: characters assigned later are left alone). ASCII is returned unchanged.
std::string nfc(std::string_view valid_utf8);
// Invalid sequences become U+FFFD, one per maximal invalid subpart (Unicode's recommended
// practice).
std::string from_utf8_lossy(std::string_view bytes);

// Decodes the code point that starts at `pos` (text must be valid UTF-8) and advances pos.
char32_t next_code_point(std::string_view text, size_t& pos);
// Decodes the code point that ends just before `end` and moves end back to its first byte.
char32_t previous_code_point(std::string_view text, size_t& end);
// Rust's char::is_whitespace (Unicode White_Space), used for added tokens' lstrip/rstrip.
bool is_white_space(char32_t c);
// Rust's char::is_alphanumeric (letters and numbers), used for added tokens' single_word.
bool is_alphanumeric(char32_t c);

}  // namespace tokenfocus::data::unicode
