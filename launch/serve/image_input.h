// Where a request's images come from: a path below the server's --image-root (never outside it:
// no absolute paths, no "..", no symlink that leads out) or base64 bytes in the body. Both end as
// encoded bytes that data/image.h decodes exactly as `score` decodes files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tokenfocus::launch::serve {

class ImageRoot {
 public:
  // "" = no root: requests may only send base64 images. UserError when `root` is not a folder.
  explicit ImageRoot(const std::string& root);

  bool empty() const { return root_.empty(); }
  const std::filesystem::path& path() const { return root_; }

  // The file `relative` names below the root, symlinks resolved. RequestError 403 when it is
  // absolute, has a ".." part, or resolves outside the root; 422 when there is no such file.
  // `where` names the field in errors.
  std::filesystem::path resolve(const std::string& relative, const std::string& where) const;

 private:
  std::filesystem::path root_;  // canonical
};

// Standard base64 (RFC 4648, padding optional, no whitespace inside). RequestError 400 naming
// `where` for any other character or a length that cannot be base64.
std::vector<uint8_t> decode_base64(const std::string& text, const std::string& where);

}  // namespace tokenfocus::launch::serve
