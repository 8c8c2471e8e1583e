// GPT-2's byte-to-unicode table, which byte-level BPE vocabularies are written in: every byte maps
// to one printable code point ("Ġ" for the space, "Ċ" for "\n"), so tokens are readable strings.
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace tokenfocus::data::byte_level {

// The mapped form (UTF-8) of each byte.
const std::array<std::string, 256>& byte_to_unicode();
// Appends the mapped form of every byte of `bytes` to `out`.
void append_mapped(std::string_view bytes, std::string& out);
// Hugging Face's ByteLevel decoder for one token: the bytes behind its code points, or the
// token's own bytes when one of its code points is not in the table (e.g. added tokens).
void append_unmapped(std::string_view token, std::string& out);

}  // namespace tokenfocus::data::byte_level
