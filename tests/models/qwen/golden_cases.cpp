#include "golden_cases.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "models/registry.h"
#include "models/safetensors.h"
#include "tests/support/golden_root.h"

namespace tokenfocus::models::testing {

namespace fs = std::filesystem;

std::string golden_root() {
  return tokenfocus::testing::golden_root();
}

std::vector<std::string> qwen_families() {
  return {"qwen2_vl", "qwen2_5_vl"};
}

std::string family_dir(const std::string& family) {
  return golden_root() + "/" + family;
}

std::vector<std::string> case_files(const std::string& family) {
  std::vector<std::string> files;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(family_dir(family), error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("case_", 0) == 0 && entry.path().extension() == ".safetensors")
      files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<GoldenCase> all_cases() {
  std::vector<GoldenCase> cases;
  for (const auto& family : qwen_families())
    for (const auto& path : case_files(family))
      cases.push_back({family, path, fs::path(path).stem().string()});
  return cases;
}

std::map<std::string, torch::Tensor> read_case(const std::string& path) {
  return load_safetensors(path);
}

std::shared_ptr<Backbone> golden_backbone(const std::string& family) {
  static std::map<std::string, std::shared_ptr<Backbone>> loaded;
  auto& slot = loaded[family];
  if (!slot) slot = load_backbone(family_dir(family));
  return slot;
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

}  // namespace tokenfocus::models::testing
