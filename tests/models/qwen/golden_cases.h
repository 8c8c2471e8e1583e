// The golden reference folders and their case files, found at run time so that new cases need no
// code change: $TOKENFOCUS_GOLDEN_DIR (default ../shared/golden, relative to the source root) /
// {qwen2_vl, qwen2_5_vl} / case_*.safetensors.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/backbone.h"
#include "tests/support/model_case.h"

namespace tokenfocus::models::testing {

std::string golden_root();
std::vector<std::string> qwen_families();  // {"qwen2_vl", "qwen2_5_vl"}
std::string family_dir(const std::string& family);

struct GoldenCase {
  std::string family;
  std::string path;
  std::string name;  // file stem, e.g. case_1x4x4
};
// Every case of every family (sorted), for parameterised tests.
std::vector<GoldenCase> all_cases();
std::vector<std::string> case_files(const std::string& family);

// The case's tensors (zero-copy from the file); case_inputs (tests/support/model_case.h) makes its
// model inputs.
std::map<std::string, torch::Tensor> read_case(const std::string& path);

// The backbone of a family, loaded once per process and shared by the tests.
std::shared_ptr<Backbone> golden_backbone(const std::string& family);

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace tokenfocus::models::testing
