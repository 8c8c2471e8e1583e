#include "data/tokenizer_byte_level.h"

#include <cstdint>
#include <vector>

#include "data/tokenizer_unicode.h"

namespace tokenfocus::data::byte_level {
namespace {

std::string utf8_of(char32_t c) {
  std::string s;
  if (c < 0x80) {
    s.push_back(static_cast<char>(c));
  } else {  // the table only uses code points below U+0800
    s.push_back(static_cast<char>(0xC0 | (c >> 6)));
    s.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
  return s;
}

// Printable Latin-1 bytes keep their code point; the others take 256, 257, ... in byte order.
std::array<char32_t, 256> make_code_points() {
  std::array<char32_t, 256> table{};
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    table[b] = printable ? static_cast<char32_t>(b) : next++;
  }
  return table;
}

const std::array<char32_t, 256>& code_points() {
  static const std::array<char32_t, 256> table = make_code_points();
  return table;
}

// code point -> byte, -1 where the code point is not in the table (all are below 324).
const std::vector<int16_t>& inverse() {
  static const std::vector<int16_t> table = [] {
    std::vector<int16_t> inv(324, -1);
    for (int b = 0; b < 256; ++b) inv[code_points()[b]] = static_cast<int16_t>(b);
    return inv;
  }();
  return table;
}

}  // namespace

const std::array<std::string, 256>& byte_to_unicode() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    for (int b = 0; b < 256; ++b) t[b] = utf8_of(code_points()[b]);
    return t;
  }();
  return table;
}

void append_mapped(std::string_view bytes, std::string& out) {
  const auto& table = byte_to_unicode();
  for (char c : bytes) out += table[static_cast<unsigned char>(c)];
}

void append_unmapped(std::string_view token, std::string& out) {
  const auto& inv = inverse();
  const size_t start = out.size();
  size_t pos = 0;
  while (pos < token.size()) {
    const char32_t c = unicode::next_code_point(token, pos);
    if (c >= inv.size() || inv[c] < 0) {
      out.resize(start);
      out.append(token);
      return;
    }
    out.push_back(static_cast<char>(inv[c]));
  }
}

}  // namespace tokenfocus::data::byte_level
