// Strict state-dict loading and Hugging Face model folders (single file and sharded index).
#include <gtest/gtest.h>

#include <fstream>

#include "common/error.h"
#include "models/linear.h"
#include "models/safetensors.h"
#include "models/state_dict.h"
#include "tests/models/safetensors/reference_python.h"

namespace tokenfocus::models {
namespace {

using testing::TempDir;

// A two-level tree named like a Hugging Face model: "proj.weight", "proj.bias", "head.weight",
// "scale".
struct TinyImpl : torch::nn::Module {
  TinyImpl() {
    proj = register_module("proj", Linear(4, 3, true));
    head = register_module("head", Linear(3, 2, false));
    scale = register_buffer("scale", torch::ones({2}));
  }
  Linear proj{nullptr}, head{nullptr};
  torch::Tensor scale;
};
TORCH_MODULE(Tiny);

std::map<std::string, torch::Tensor> tiny_tensors() {
  torch::manual_seed(7);
  return {{"proj.weight", torch::randn({3, 4})},
          {"proj.bias", torch::randn({3})},
          {"head.weight", torch::randn({2, 3})},
          {"scale", torch::randn({2})}};
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const UserError& e) {
    return e.what();
  }
  return "no error";
}

TEST(StateDict, LoadsEveryParameterAndBuffer) {
  Tiny model;
  const auto tensors = tiny_tensors();
  load_state_dict_strict(*model, tensors, "tiny.safetensors");
  EXPECT_TRUE(torch::equal(model->proj->weight, tensors.at("proj.weight")));
  EXPECT_TRUE(torch::equal(model->proj->bias, tensors.at("proj.bias")));
  EXPECT_TRUE(torch::equal(model->head->weight, tensors.at("head.weight")));
  EXPECT_TRUE(torch::equal(model->scale, tensors.at("scale")));
  EXPECT_TRUE(model->proj->weight.requires_grad());  // still a trainable parameter
}

TEST(StateDict, OneErrorListsMissingUnexpectedAndMisshapedAndChangesNothing) {
  Tiny model;
  const torch::Tensor before = model->proj->weight.clone();
  auto tensors = tiny_tensors();
  tensors.erase("proj.bias");
  tensors["head.weight"] = torch::zeros({3, 2});
  tensors["extra.weight"] = torch::zeros({1});
  tensors["scale"] = torch::zeros({2}, torch::kInt64);
  EXPECT_EQ(error_of([&] { load_state_dict_strict(*model, tensors, "ckpt.safetensors"); }),
            "ckpt.safetensors: the checkpoint does not match the model\n"
            "  missing from the checkpoint (1):\n    proj.bias\n"
            "  unexpected in the checkpoint (1):\n    extra.weight\n"
            "  mismatched (2):\n    head.weight: checkpoint [3, 2] vs model [2, 3]\n"
            "    scale: checkpoint dtype Long vs model Float");
  EXPECT_TRUE(torch::equal(model->proj->weight, before));
}

TEST(StateDict, AllowListsAcceptTiedOrBookkeepingNames) {
  Tiny model;
  auto tensors = tiny_tensors();
  tensors.erase("head.weight");
  tensors["model.rotary_emb.inv_freq"] = torch::ones({4});
  StrictLoadOptions options;
  options.allow_missing = {"head.weight"};
  options.allow_unexpected = {"inv_freq"};
  EXPECT_EQ(error_of([&] { load_state_dict_strict(*model, tensors, "x", options); }), "no error");
  options.allow_unexpected = {"freq"};  // a suffix must start at a name component
  EXPECT_NE(error_of([&] {
              load_state_dict_strict(*model, tensors, "x", options);
            }).find("model.rotary_emb.inv_freq"),
            std::string::npos);
}

TEST(StateDict, HalfPrecisionCheckpointsConvertIntoFloatModels) {
  Tiny model;
  auto tensors = tiny_tensors();
  for (auto& [name, tensor] : tensors) tensor = tensor.to(torch::kBFloat16);
  tensors["proj.bias"] = tensors["proj.bias"].to(torch::kFloat16);
  load_state_dict_strict(*model, tensors, "bf16.safetensors");
  EXPECT_EQ(model->proj->weight.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(model->proj->weight, tensors.at("proj.weight").to(torch::kFloat32)));
  EXPECT_TRUE(torch::equal(model->proj->bias, tensors.at("proj.bias").to(torch::kFloat32)));
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

TEST(StateDict, ShardedFoldersLoadLikeOneFile) {
  TempDir dir("sharded");
  const auto tensors = tiny_tensors();
  save_safetensors(
      dir.file("model-00001-of-00002.safetensors"),
      {{"proj.weight", tensors.at("proj.weight")}, {"proj.bias", tensors.at("proj.bias")}});
  save_safetensors(dir.file("model-00002-of-00002.safetensors"),
                   {{"head.weight", tensors.at("head.weight")}, {"scale", tensors.at("scale")}});
  write_text(dir.file("model.safetensors.index.json"),
             R"({"metadata": {"total_size": 76}, "weight_map": {
      "proj.weight": "model-00001-of-00002.safetensors", "proj.bias": "model-00001-of-00002.safetensors",
      "head.weight": "model-00002-of-00002.safetensors", "scale": "model-00002-of-00002.safetensors"}})");
  const auto loaded = load_checkpoint_dir(dir.path().string());
  ASSERT_EQ(loaded.size(), 4u);
  for (const auto& [name, tensor] : tensors)
    EXPECT_TRUE(torch::equal(loaded.at(name), tensor)) << name;
  Tiny model;
  load_state_dict_strict(*model, loaded, dir.path().string());
  EXPECT_TRUE(torch::equal(model->scale, tensors.at("scale")));
}

TEST(StateDict, BrokenShardIndexesNameTheProblem) {
  TempDir dir("sharded_bad");
  const std::string shard = dir.file("a.safetensors");
  save_safetensors(shard, {{"x", torch::ones({1})}, {"y", torch::ones({1})}});
  const std::string index = dir.file("model.safetensors.index.json");
  const std::string folder = dir.path().string();
  auto error = [&] { return error_of([&] { load_checkpoint_dir(folder); }); };

  write_text(
      index,
      R"({"weight_map": {"x": "a.safetensors", "y": "a.safetensors", "z": "a.safetensors"}})");
  EXPECT_EQ(error(), shard + ": tensor \"z\" is listed in model.safetensors.index.json but absent");
  write_text(index, R"({"weight_map": {"x": "a.safetensors"}})");
  EXPECT_EQ(error(),
            shard + ": tensor \"y\" is not listed for this shard in model.safetensors.index.json");
  write_text(index, R"({"weight_map": {"x": "b.safetensors"}})");
  EXPECT_EQ(error(), index + ": shard " + dir.file("b.safetensors") + " is listed but missing");
  write_text(index, R"({"weight_map": {"x": "../a.safetensors"}})");
  EXPECT_NE(error().find("is not a file in this folder"), std::string::npos);
  write_text(index, R"({"weight_map": [}})");
  EXPECT_NE(error().find(index + ": not valid JSON"), std::string::npos);
  std::filesystem::remove(index);
  EXPECT_EQ(error(),
            folder + ": no model.safetensors or model.safetensors.index.json in this folder");
}

TEST(StateDict, GoldenFolderLoadsEveryTensor) {
  const auto tensors = load_checkpoint_dir("../shared/golden/qwen2_vl");
  EXPECT_TRUE(tensors.count("lm_head.weight"));
  EXPECT_TRUE(tensors.count("visual.patch_embed.proj.weight"));
  EXPECT_EQ(tensors.at("lm_head.weight").sizes(), (std::vector<int64_t>{512, 64}));
}

}  // namespace
}  // namespace tokenfocus::models
