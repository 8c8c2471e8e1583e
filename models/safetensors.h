// Safetensors files as torch tensors: memory-mapped reading (zero-copy when no conversion is asked
// for) and atomic writing. The format and its validation live in models/safetensors_header.h.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/safetensors_header.h"

namespace tokenfocus::models {

class FileMapping;

class SafetensorsFile {
 public:
  // Maps the file and validates its whole header; UserError naming the file if it is malformed.
  static SafetensorsFile open(const std::string& path);

  const std::string& path() const { return path_; }
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const;
  std::map<std::string, std::string> metadata() const { return header_.metadata; }
  const SafetensorsEntry& entry(
      const std::string& name) const;  // UserError naming file + tensor if absent

  // The tensor in its stored dtype, viewing the mapped file (the mapping lives as long as any
  // tensor made from it). The mapping is private copy-on-write: writing into the tensor never
  // changes the file. Copies only when the data is not aligned to its element size.
  torch::Tensor get(const std::string& name) const;
  // The tensor converted to `dtype` (no copy when it already has that dtype). Floating dtypes
  // convert among themselves; integer and bool tensors only to their own dtype.
  torch::Tensor get(const std::string& name, torch::ScalarType dtype) const;

 private:
  std::string path_;
  std::shared_ptr<FileMapping> mapping_;
  SafetensorsHeader header_;
  std::map<std::string, std::size_t> index_;  // name -> position in header_.entries
};

// The libtorch dtype of a safetensors dtype; UserError naming file + tensor for the dtypes
// libtorch 1.13 lacks (U16, U32, U64, F8_*).
torch::ScalarType torch_dtype_of(SafetensorsDtype dtype, const std::string& file,
                                 const std::string& tensor);

// For a tensor that views a mapped file (SafetensorsFile::get without a copy): gives the file pages
// it spans back to the kernel, so that they stop counting in this process's resident memory once
// the loader has copied them where they belong; a later read maps them in again from the file, so
// call it only on tensors nobody has written into. Returns false (and does nothing) for any other
// tensor.
bool release_mapped_pages(const torch::Tensor& tensor);

// Every tensor of a file, zero-copy.
std::map<std::string, torch::Tensor> load_safetensors(const std::string& path);

// Writes CPU copies of the tensors (made contiguous) to `path` via a temporary name and a rename.
void save_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace tokenfocus::models
