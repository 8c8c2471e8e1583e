#include "data/tokenizer_unicode.h"

#include <cstdlib>
#include <memory>

#include <utf8proc.h>

#include "common/error.h"
#include "data/tokenizer_unicode_tables.h"

namespace tokenfocus::data::unicode {
namespace {

// Length of the sequence a lead byte announces, 0 for a byte that cannot start one.
int sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// The allowed range of the byte after `lead` (excludes overlongs, surrogates, > U+10FFFF).
bool second_byte_ok(unsigned char lead, unsigned char byte) {
  switch (lead) {
    case 0xE0:
      return byte >= 0xA0 && byte <= 0xBF;
    case 0xED:
      return byte >= 0x80 && byte <= 0x9F;
    case 0xF0:
      return byte >= 0x90 && byte <= 0xBF;
    case 0xF4:
      return byte >= 0x80 && byte <= 0x8F;
    default:
      return byte >= 0x80 && byte <= 0xBF;
  }
}

// Number of bytes of the valid prefix of the sequence starting at pos (== its length if valid).
size_t valid_prefix(std::string_view text, size_t pos, int length) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  size_t taken = 1;
  for (int k = 1; k < length; ++k) {
    if (pos + k >= text.size()) break;
    const auto byte = static_cast<unsigned char>(text[pos + k]);
    const bool ok = k == 1 ? second_byte_ok(lead, byte) : (byte >= 0x80 && byte <= 0xBF);
    if (!ok) break;
    ++taken;
  }
  return taken;
}

}  // namespace

size_t first_invalid_utf8(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    const auto lead = static_cast<unsigned char>(text[pos]);
    if (lead < 0x80) {
      ++pos;
      continue;
    }
    const int length = sequence_length(lead);
    if (length == 0 || valid_prefix(text, pos, length) != static_cast<size_t>(length)) return pos;
    pos += length;
  }
  return std::string_view::npos;
}

bool in_ranges(char32_t c, const CodePointRange* ranges, size_t count) {
  size_t lo = 0, hi = count;
  while (lo < hi) {  // first range whose last >= c
    const size_t mid = (lo + hi) / 2;
    if (ranges[mid].last < c) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo < count && ranges[lo].first <= c;
}

namespace {

std::string utf8proc_nfc(std::string_view valid_utf8) {
  if (valid_utf8.empty()) return {};
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(valid_utf8.data()),
                   static_cast<utf8proc_ssize_t>(valid_utf8.size()), &out,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) throw_user_error("NFC normalisation failed: {}", utf8proc_errmsg(n));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(out, &std::free);
  return std::string(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
}

}  // namespace

std::string nfc(std::string_view valid_utf8) {
  bool ascii = true;
  for (char c : valid_utf8) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return std::string(valid_utf8);
  // Hugging Face normalises with Unicode 9.0 tables: a character assigned later is an inert
  // starter for it (no decomposition, class 0, no composition). Such a character is a boundary
  // nothing crosses, so NFC of the pieces between them equals Unicode-9.0 NFC of the whole.
  std::string out;
  out.reserve(valid_utf8.size());
  size_t piece = 0;
  size_t pos = 0;
  while (pos < valid_utf8.size()) {
    const size_t start = pos;
    const char32_t c = next_code_point(valid_utf8, pos);
    if (c >= kAssignedAfterUnicode9[0].first &&
        in_ranges(c, kAssignedAfterUnicode9, kAssignedAfterUnicode9Count)) {
      out += utf8proc_nfc(valid_utf8.substr(piece, start - piece));
      out.append(valid_utf8.substr(start, pos - start));
      piece = pos;
    }
  }
  out += utf8proc_nfc(valid_utf8.substr(piece));
  return out;
}

std::string from_utf8_lossy(std::string_view bytes) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(bytes.size());
  size_t pos = 0;
  while (pos < bytes.size()) {
    const auto lead = static_cast<unsigned char>(bytes[pos]);
    const int length = sequence_length(lead);
    if (length == 1) {
      out.push_back(bytes[pos++]);
      continue;
    }
    if (length == 0) {
      out += kReplacement;
      ++pos;
      continue;
    }
    const size_t taken = valid_prefix(bytes, pos, length);
    if (taken == static_cast<size_t>(length)) {
      out.append(bytes.substr(pos, taken));
    } else {
      out += kReplacement;
    }
    pos += taken;
  }
  return out;
}

char32_t next_code_point(std::string_view text, size_t& pos) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  const int length = sequence_length(lead);
  if (length <= 1) {
    ++pos;
    return lead;
  }
  char32_t c = lead & (0xFF >> (length + 1));
  for (int k = 1; k < length; ++k)
    c = (c << 6) | (static_cast<unsigned char>(text[pos + k]) & 0x3F);
  pos += length;
  return c;
}

char32_t previous_code_point(std::string_view text, size_t& end) {
  size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  size_t pos = start;
  const char32_t c = next_code_point(text, pos);
  end = start;
  return c;
}

bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

bool is_alphanumeric(char32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

}  // namespace tokenfocus::data::unicode
