#include "trainer/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/log.h"
#include "common/sha256.h"
#include "models/safetensors.h"
#include "models/state_dict.h"

namespace tokenfocus::trainer {
namespace fs = std::filesystem;
namespace {

constexpr int kFormatVersion = 1;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_user_error("cannot read {}", path.string());
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

std::string folder_name(int64_t step) {
  return fmt::format("step-{:08d}", step);
}

std::optional<int64_t> step_of(const std::string& name) {
  if (name.rfind("step-", 0) != 0 || name.size() != 13) return std::nullopt;
  if (!std::all_of(name.begin() + 5, name.end(), ::isdigit)) return std::nullopt;
  return std::stoll(name.substr(5));
}

torch::Tensor rng_state() {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

void set_rng_state(const torch::Tensor& state) {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
}

// Steps of the complete-looking folders (newest first), plus temporaries left by crashed saves.
std::vector<int64_t> listed_steps(const fs::path& directory) {
  std::vector<int64_t> steps;
  if (!fs::is_directory(directory)) return steps;
  for (const auto& entry : fs::directory_iterator(directory))
    if (entry.is_directory())
      if (const auto step = step_of(entry.path().filename().string())) steps.push_back(*step);
  std::sort(steps.rbegin(), steps.rend());
  return steps;
}

}  // namespace

void load_parameters(const std::vector<NamedParameter>& parameters,
                     const std::map<std::string, torch::Tensor>& weights, const std::string& file) {
  std::set<std::string> expected;
  for (const auto& p : parameters) {
    expected.insert(p.name);
    const auto it = weights.find(p.name);
    if (it == weights.end())
      throw_user_error(
          "{}: no tensor '{}' ({}), which the model trains (a checkpoint of another finetune mode "
          "or model?)",
          file, p.name, models::tensor_text(p.tensor));
    if (it->second.scalar_type() != p.tensor.scalar_type() ||
        it->second.sizes() != p.tensor.sizes())
      throw_user_error("{}: tensor '{}' is {}, the model's parameter is {}", file, p.name,
                       models::tensor_text(it->second), models::tensor_text(p.tensor));
  }
  for (const auto& [name, tensor] : weights)
    if (!expected.count(name))
      throw_user_error(
          "{}: tensor '{}' ({}) is not a trainable parameter of this model (a checkpoint of "
          "another finetune mode or model?)",
          file, name, models::tensor_text(tensor));
  torch::NoGradGuard no_grad;
  for (const auto& p : parameters) p.tensor.detach().copy_(weights.at(p.name));
}

CheckpointStore::CheckpointStore(std::string directory, int64_t keep_last)
    : directory_(std::move(directory)), keep_last_(std::max<int64_t>(1, keep_last)) {}

std::string CheckpointStore::save(Communicator& comm, const CheckpointContents& contents) {
  const fs::path final_path = fs::path(directory_) / folder_name(contents.state.optimizer_steps);
  const fs::path temporary =
      fs::path(directory_) / ("." + folder_name(contents.state.optimizer_steps) + ".tmp");
  const bool sharded = contents.state.zero_stage > 0;
  if (comm.rank() == 0) {
    fs::remove_all(temporary);
    fs::create_directories(temporary / "rng");
    if (sharded) fs::create_directories(temporary / "optimizer");
  }
  comm.barrier();
  models::save_safetensors(
      (temporary / "rng" / fmt::format("rank{}.safetensors", comm.rank())).string(),
      {{"torch_cpu", rng_state()}});
  if (sharded)
    models::save_safetensors(
        (temporary / "optimizer" / fmt::format("rank{}.safetensors", comm.rank())).string(),
        contents.optimizer,
        {{"rank", std::to_string(comm.rank())}, {"world_size", std::to_string(comm.world_size())}});
  if (comm.rank() == 0) {
    models::save_safetensors((temporary / "model.safetensors").string(), contents.weights,
                             {{"format", "pt"}, {"config_hash", contents.state.config_hash}});
    if (!sharded)
      models::save_safetensors((temporary / "optimizer.safetensors").string(), contents.optimizer);
    nlohmann::json state = {{"format_version", kFormatVersion},
                            {"epoch", contents.state.epoch},
                            {"batch_in_epoch", contents.state.batch_in_epoch},
                            {"optimizer_steps", contents.state.optimizer_steps},
                            {"world_size", contents.state.world_size},
                            {"config_hash", contents.state.config_hash}};
    // Absent in DDP checkpoints, so that those stay byte-identical to earlier versions.
    if (sharded) state["zero_stage"] = contents.state.zero_stage;
    write_file_atomically((temporary / "trainer_state.json").string(), state.dump(2) + "\n");
    if (contents.write_extra) contents.write_extra(temporary.string());
  }
  comm.barrier();  // every rank's RNG file is in place
  if (comm.rank() == 0) {
    nlohmann::json files = nlohmann::json::object();
    for (const auto& entry : fs::recursive_directory_iterator(temporary)) {
      if (!entry.is_regular_file()) continue;
      const std::string bytes = read_file(entry.path());
      files[fs::relative(entry.path(), temporary).generic_string()] = {
          {"bytes", bytes.size()}, {"sha256", sha256_hex(bytes)}};
    }
    fs::remove_all(final_path);  // a stale folder of the same step (an earlier, interrupted run)
    fs::rename(temporary, final_path);
    write_file_atomically((final_path / "DONE").string(),
                          nlohmann::json{{"files", files}}.dump(2) + "\n");
    // Keep the newest keep_last_ complete checkpoints.
    int64_t kept = 0;
    for (int64_t step : listed_steps(directory_)) {
      const fs::path folder = fs::path(directory_) / folder_name(step);
      if (!fs::exists(folder / "DONE")) continue;
      if (++kept > keep_last_) fs::remove_all(folder);
    }
  }
  comm.barrier();
  return final_path.string();
}

bool CheckpointStore::verify(const std::string& folder, std::string* why) {
  const fs::path done = fs::path(folder) / "DONE";
  if (!fs::exists(done)) {
    *why = "no DONE marker (the save was interrupted)";
    return false;
  }
  try {
    const auto listing = nlohmann::json::parse(read_file(done));
    for (const auto& [name, info] : listing.at("files").items()) {
      const fs::path path = fs::path(folder) / name;
      if (!fs::exists(path)) {
        *why = fmt::format("{} is missing", name);
        return false;
      }
      if (fs::file_size(path) != info.at("bytes").get<uint64_t>()) {
        *why = fmt::format("{} has {} bytes, DONE says {}", name, fs::file_size(path),
                           info.at("bytes").get<uint64_t>());
        return false;
      }
      if (sha256_hex(read_file(path)) != info.at("sha256").get<std::string>()) {
        *why = fmt::format("{} does not match its SHA-256 in DONE", name);
        return false;
      }
    }
  } catch (const nlohmann::json::exception& e) {
    *why = fmt::format("DONE is malformed ({})", e.what());
    return false;
  }
  return true;
}

std::optional<std::string> CheckpointStore::find_latest(Communicator& comm) const {
  auto chosen = torch::tensor({int64_t{-1}}, torch::kLong);
  if (comm.rank() == 0) {
    for (int64_t step : listed_steps(directory_)) {
      const std::string folder = (fs::path(directory_) / folder_name(step)).string();
      std::string why;
      if (verify(folder, &why)) {
        chosen[0] = step;
        break;
      }
      log::warn("ignoring checkpoint {}: {}", folder, why);
    }
  }
  comm.broadcast(chosen, 0);
  const int64_t step = chosen[0].item<int64_t>();
  if (step < 0) return std::nullopt;
  return (fs::path(directory_) / folder_name(step)).string();
}

CheckpointContents CheckpointStore::load(const std::string& folder, int rank, int world_size,
                                         int64_t zero_stage) {
  CheckpointContents contents;
  const fs::path root(folder);
  try {
    const auto state = nlohmann::json::parse(read_file(root / "trainer_state.json"));
    if (state.at("format_version").get<int>() != kFormatVersion)
      throw_user_error("{}: format_version {} is not {}", (root / "trainer_state.json").string(),
                       state.at("format_version").get<int>(), kFormatVersion);
    contents.state.epoch = state.at("epoch").get<int64_t>();
    contents.state.batch_in_epoch = state.at("batch_in_epoch").get<int64_t>();
    contents.state.optimizer_steps = state.at("optimizer_steps").get<int64_t>();
    contents.state.world_size = state.at("world_size").get<int64_t>();
    contents.state.config_hash = state.at("config_hash").get<std::string>();
    contents.state.zero_stage = state.value("zero_stage", int64_t{0});
  } catch (const nlohmann::json::exception& e) {
    throw_user_error("{}: {}", (root / "trainer_state.json").string(), e.what());
  }
  // Before any optimizer file is opened: every rank reads the same trainer_state.json, so every
  // rank stops here with the same message (none waits for another).
  const int64_t saved_zero = contents.state.zero_stage;
  if (saved_zero != zero_stage)
    throw_user_error(
        "{}: written with distributed.zero: {} ({}), this run has distributed.zero: {}; the "
        "optimizer state of one cannot continue the other: resume with distributed.zero: {} or "
        "start a new run folder",
        folder, saved_zero,
        saved_zero ? fmt::format("AdamW state sharded over {} ranks", contents.state.world_size)
                   : "AdamW state whole on every rank",
        zero_stage, saved_zero);
  if (saved_zero > 0 && contents.state.world_size != world_size)
    throw_user_error(
        "{}: a distributed.zero: {} checkpoint of {} ranks (AdamW state in {} shards, "
        "optimizer/rank0..{}.safetensors) cannot resume on {} ranks; resume with {} ranks or "
        "start a new run folder",
        folder, saved_zero, contents.state.world_size, contents.state.world_size,
        contents.state.world_size - 1, world_size, contents.state.world_size);
  for (auto& [name, tensor] : models::load_safetensors((root / "model.safetensors").string()))
    contents.weights[name] = tensor.clone();
  const fs::path optimizer = saved_zero > 0
                                 ? root / "optimizer" / fmt::format("rank{}.safetensors", rank)
                                 : root / "optimizer.safetensors";
  for (auto& [name, tensor] : models::load_safetensors(optimizer.string()))
    contents.optimizer[name] = tensor.clone();
  const fs::path rng = root / "rng" / fmt::format("rank{}.safetensors", rank);
  if (contents.state.world_size == world_size && fs::exists(rng)) {
    set_rng_state(models::load_safetensors(rng.string()).at("torch_cpu").clone());
  } else if (rank == 0) {
    log::warn(
        "{}: saved with {} ranks, resuming on {}: RNG streams restart, so the run will not repeat "
        "bit for bit",
        folder, contents.state.world_size, world_size);
  }
  return contents;
}

}  // namespace tokenfocus::trainer
