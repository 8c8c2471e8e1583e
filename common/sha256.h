// SHA-256 of bytes as a lowercase hex string (OpenSSL's libcrypto does the hashing).
#pragma once

#include <string>
#include <string_view>

namespace tokenfocus {

std::string sha256_hex(std::string_view bytes);

}  // namespace tokenfocus
