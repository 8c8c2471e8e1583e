// A checkpoint whose tensors do not fit the model is refused with the tensor and the file named:
// written through the real CheckpointStore (DONE and hashes valid), then loaded as resume does.
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "common/error.h"
#include "trainer/checkpoint.h"
#include "trainer/communicator.h"
#include "trainer/optimizer.h"

namespace fs = std::filesystem;
using namespace tokenfocus;
using namespace tokenfocus::trainer;

namespace {

Communicator& comm() {
  static auto c = make_communicator({"mpi", 60.0});
  return *c;
}

std::vector<NamedParameter> model_parameters() {
  return {{"fc.weight", torch::zeros({3, 4}).set_requires_grad(true)},
          {"fc.bias", torch::zeros({3}).set_requires_grad(true)}};
}

// Writes a checkpoint holding `weights` and returns the complete folder resume would pick.
std::string write_checkpoint(const std::string& name,
                             const std::map<std::string, torch::Tensor>& weights) {
  const fs::path dir =
      fs::temp_directory_path() / ("tokenfocus-ckpt-" + name + "-" + std::to_string(getpid()));
  fs::remove_all(dir);
  CheckpointStore store(dir.string(), 2);
  CheckpointContents contents;
  contents.state = {0, 1, 1, 1, "hash"};
  contents.weights = weights;
  AdamW optimizer(model_parameters(), {});
  contents.optimizer = optimizer.state_dict();
  store.save(comm(), contents);
  const auto folder = store.find_latest(comm());
  EXPECT_TRUE(folder.has_value());
  return folder.value_or("");
}

std::string load_error(const std::string& folder) {
  try {
    const auto loaded = CheckpointStore::load(folder, 0, 1);
    load_parameters(model_parameters(), loaded.weights, folder + "/model.safetensors");
  } catch (const UserError& e) {
    return e.what();
  }
  return "no error";
}

TEST(CheckpointLoad, MatchingTensorsLoad) {
  const auto folder = write_checkpoint(
      "ok", {{"fc.weight", torch::full({3, 4}, 2.0)}, {"fc.bias", torch::full({3}, -1.0)}});
  const auto parameters = model_parameters();
  load_parameters(parameters, CheckpointStore::load(folder, 0, 1).weights,
                  folder + "/model.safetensors");
  EXPECT_TRUE(torch::equal(parameters[0].tensor, torch::full({3, 4}, 2.0)));
  EXPECT_TRUE(torch::equal(parameters[1].tensor, torch::full({3}, -1.0)));
  fs::remove_all(fs::path(folder).parent_path());
}

TEST(CheckpointLoad, WrongDtypeNamesTensorAndFile) {
  const auto folder = write_checkpoint(
      "dtype",
      {{"fc.weight", torch::zeros({3, 4}, torch::kBFloat16)}, {"fc.bias", torch::zeros({3})}});
  const std::string error = load_error(folder);
  EXPECT_NE(error.find(folder + "/model.safetensors: tensor 'fc.weight' is BFloat16 [3, 4], the "
                                "model's parameter is Float [3, 4]"),
            std::string::npos)
      << error;
  fs::remove_all(fs::path(folder).parent_path());
}

TEST(CheckpointLoad, WrongShapeNamesTensorAndFile) {
  const auto folder = write_checkpoint(
      "shape", {{"fc.weight", torch::zeros({4, 3})}, {"fc.bias", torch::zeros({3})}});
  const std::string error = load_error(folder);
  EXPECT_NE(error.find(folder + "/model.safetensors: tensor 'fc.weight' is Float [4, 3], the "
                                "model's parameter is Float [3, 4]"),
            std::string::npos)
      << error;
  fs::remove_all(fs::path(folder).parent_path());
}

TEST(CheckpointLoad, MissingAndUnexpectedTensorsAreNamed) {
  // A LoRA checkpoint loaded into a full fine-tune: the base weights are missing...
  auto folder = write_checkpoint("missing", {{"fc.lora_A.weight", torch::zeros({2, 4})},
                                             {"fc.lora_B.weight", torch::zeros({3, 2})}});
  std::string error = load_error(folder);
  EXPECT_NE(error.find("model.safetensors: no tensor 'fc.weight' (Float [3, 4])"),
            std::string::npos)
      << error;
  fs::remove_all(fs::path(folder).parent_path());
  // ...and a tensor the model does not train is refused rather than ignored.
  folder = write_checkpoint("extra", {{"fc.weight", torch::zeros({3, 4})},
                                      {"fc.bias", torch::zeros({3})},
                                      {"fc.lora_A.weight", torch::zeros({2, 4})}});
  error = load_error(folder);
  EXPECT_NE(error.find("model.safetensors: tensor 'fc.lora_A.weight' (Float [2, 4]) is not a "
                       "trainable parameter"),
            std::string::npos)
      << error;
  fs::remove_all(fs::path(folder).parent_path());
}

TEST(CheckpointLoad, OptimizerStateWithWrongDtypeNamesEntryAndFile) {
  AdamW optimizer(model_parameters(), {});
  auto state = optimizer.state_dict();
  state["exp_avg_sq/fc.bias"] = torch::zeros({3}, torch::kDouble);
  try {
    optimizer.load_state_dict(state, "step-00000001/optimizer.safetensors");
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_STREQ(e.what(),
                 "step-00000001/optimizer.safetensors: tensor 'exp_avg_sq/fc.bias' is Double [3], "
                 "the optimizer expects Float [3]");
  }
}

}  // namespace
