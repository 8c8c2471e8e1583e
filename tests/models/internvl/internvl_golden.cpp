#include "internvl_golden.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "models/safetensors.h"
#include "tests/support/golden_root.h"

namespace tokenfocus::models::testing {

std::vector<std::string> internvl_families() {
  return {"internvl2_5_qwen2", "internvl2_5_internlm2"};
}

std::string internvl_family_dir(const std::string& family) {
  return tokenfocus::testing::golden_root() + "/" + family;
}

std::vector<InternVLCase> internvl_cases() {
  std::vector<InternVLCase> cases;
  for (const std::string& family : internvl_families()) {
    std::error_code error;
    for (const auto& entry :
         std::filesystem::directory_iterator(internvl_family_dir(family), error)) {
      const std::string name = entry.path().stem().string();
      if (entry.path().extension() == ".safetensors" && name.rfind("case_", 0) == 0)
        cases.push_back({family, entry.path().string(), name});
    }
  }
  std::sort(cases.begin(), cases.end(),
            [](const auto& a, const auto& b) { return a.path < b.path; });
  return cases;
}

std::map<std::string, torch::Tensor> read_tensors(const std::string& path) {
  return load_safetensors(path);
}

ModelInputs internvl_case_inputs(const std::map<std::string, torch::Tensor>& tensors) {
  ModelInputs inputs;
  inputs.input_ids = tensors.at("input_ids");
  inputs.attention_mask = tensors.at("attention_mask");
  inputs.pixel_values = tensors.at("pixel_values");
  inputs.image_grid_thw = tensors.at("image_flags");
  return inputs;
}

std::shared_ptr<InternVLBackbone> fresh_internvl_backbone(const std::string& family) {
  const std::string dir = internvl_family_dir(family);
  auto backbone = std::dynamic_pointer_cast<InternVLBackbone>(load_internvl_backbone(dir));
  std::ifstream special(dir + "/special_tokens.json");
  const auto tokens = nlohmann::json::parse(special);
  backbone->set_img_context_token_id(tokens.at("img_context_token_id").get<int64_t>());
  return backbone;
}

std::shared_ptr<InternVLBackbone> internvl_backbone(const std::string& family) {
  static std::map<std::string, std::shared_ptr<InternVLBackbone>> cache;
  auto& slot = cache[family];
  if (!slot) slot = fresh_internvl_backbone(family);
  return slot;
}

double max_abs(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

torch::Tensor shifted_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels) {
  const int64_t vocab = logits.size(2), seq = logits.size(1);
  const torch::Tensor predicted = logits.narrow(1, 0, seq - 1).reshape({-1, vocab});
  const torch::Tensor target = labels.narrow(1, 1, seq - 1).reshape({-1}).to(torch::kLong);
  return torch::nn::functional::cross_entropy(
      predicted, target, torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
}

}  // namespace tokenfocus::models::testing
