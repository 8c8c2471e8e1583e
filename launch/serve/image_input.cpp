#include "launch/serve/image_input.h"

#include <openssl/evp.h>

#include <algorithm>

#include "common/error.h"
#include "launch/serve/request_error.h"

namespace tokenfocus::launch::serve {

namespace fs = std::filesystem;

ImageRoot::ImageRoot(const std::string& root) {
  if (root.empty()) return;
  std::error_code error;
  root_ = fs::canonical(root, error);
  if (error || !fs::is_directory(root_)) throw_user_error("--image-root {}: not a folder", root);
}

fs::path ImageRoot::resolve(const std::string& relative, const std::string& where) const {
  if (root_.empty())
    throw RequestError(403, where,
                       "this server has no --image-root: send the image as {\"base64\": ...}");
  const fs::path path(relative);
  if (relative.empty() || path.is_absolute())
    throw RequestError(403, where, "must be a path relative to the image root");
  for (const auto& part : path)
    if (part == "..") throw RequestError(403, where, "must not contain '..'");
  std::error_code error;
  const fs::path resolved = fs::canonical(root_ / path, error);
  if (error) throw RequestError(422, where, "no such image below the image root: " + relative);
  // Symlinks are resolved: the real file must still lie below the root.
  const auto [mismatch, unused] =
      std::mismatch(root_.begin(), root_.end(), resolved.begin(), resolved.end());
  (void)unused;
  if (mismatch != root_.end())
    throw RequestError(403, where, "resolves outside the image root: " + relative);
  if (!fs::is_regular_file(resolved)) throw RequestError(422, where, "not a file: " + relative);
  return resolved;
}

std::vector<uint8_t> decode_base64(const std::string& text, const std::string& where) {
  std::string padded = text;
  while (padded.size() % 4 != 0 && padded.size() % 4 != 1) padded.push_back('=');
  if (padded.empty() || padded.size() % 4 != 0)
    throw RequestError(400, where, "not base64 (empty or of an impossible length)");
  for (char c : padded) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '+' || c == '/' || c == '=';
    if (!ok) throw RequestError(400, where, "not base64 (a character outside A-Z a-z 0-9 + / =)");
  }
  const size_t first_pad = padded.find('=');
  if (first_pad != std::string::npos &&
      (first_pad + 2 < padded.size() ||
       padded.find_first_not_of('=', first_pad) != std::string::npos))
    throw RequestError(400, where, "not base64 ('=' padding only at the end)");
  // OpenSSL's decoder; it counts padding as zero bytes, so those are dropped after.
  std::vector<uint8_t> bytes(padded.size() / 4 * 3);
  const int n = EVP_DecodeBlock(bytes.data(), reinterpret_cast<const unsigned char*>(padded.data()),
                                static_cast<int>(padded.size()));
  if (n < 0) throw RequestError(400, where, "not base64");
  size_t size = static_cast<size_t>(n);
  for (size_t i = padded.size(); i > 0 && padded[i - 1] == '='; --i) --size;
  bytes.resize(size);
  return bytes;
}

}  // namespace tokenfocus::launch::serve
