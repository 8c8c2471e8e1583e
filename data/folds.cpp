#include "data/folds.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/log.h"
#include "data/sampler.h"

namespace tokenfocus::data {
namespace {

constexpr int kFoldsSchemaVersion = 1;

struct PromptGroup {
  std::string prompt_id;
  std::vector<int64_t> members;  // record positions
  double mean_mos = 0;
};

std::vector<int64_t> positions_where(const std::vector<int64_t>& fold, bool equal, int64_t which) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < fold.size(); ++i)
    if ((fold[i] == which) == equal) out.push_back(static_cast<int64_t>(i));
  return out;
}

}  // namespace

std::vector<int64_t> FoldAssignment::validation_indices(int64_t held_out) const {
  return positions_where(fold, true, held_out);
}
std::vector<int64_t> FoldAssignment::training_indices(int64_t held_out) const {
  return positions_where(fold, false, held_out);
}

FoldAssignment make_folds(const std::vector<Record>& records, int64_t k, uint64_t seed) {
  if (k < 2) throw_user_error("folds.k: {} must be at least 2", k);
  std::map<std::string, PromptGroup> by_prompt;  // sorted by prompt_id: independent of file order
  for (size_t i = 0; i < records.size(); ++i) {
    const Record& r = records[i];
    if (!r.mos)
      throw_user_error(
          "folds: record {} (img_path \"{}\") has no total_score; folds are stratified by MOS", i,
          r.img_path);
    auto& group = by_prompt[r.prompt_id];
    group.prompt_id = r.prompt_id;
    group.members.push_back(static_cast<int64_t>(i));
    group.mean_mos += *r.mos;
  }
  if (static_cast<int64_t>(by_prompt.size()) < k)
    throw_user_error("folds: {} prompt(s) cannot fill {} folds (folds.k)", by_prompt.size(), k);
  std::vector<PromptGroup> groups;
  for (auto& [id, group] : by_prompt) {
    group.mean_mos /= static_cast<double>(group.members.size());
    groups.push_back(std::move(group));
  }
  std::stable_sort(groups.begin(), groups.end(), [](const PromptGroup& a, const PromptGroup& b) {
    return a.mean_mos < b.mean_mos;  // stable: ties stay in prompt_id order
  });

  FoldAssignment out;
  out.k = k;
  out.seed = seed;
  out.fold.assign(records.size(), -1);
  for (const auto& r : records) out.keys.push_back(r.img_path);
  std::vector<int64_t> fold_sizes(static_cast<size_t>(k), 0);
  std::mt19937_64 rng(mix_seed(seed, 0xf01d5ULL));
  for (size_t begin = 0; begin < groups.size(); begin += static_cast<size_t>(k)) {
    const size_t end = std::min(groups.size(), begin + static_cast<size_t>(k));
    std::vector<size_t> bin(end - begin);
    std::iota(bin.begin(), bin.end(), begin);
    portable_shuffle(bin, rng);
    for (size_t g : bin) {
      // The fold with the fewest samples so far (random among equals) takes the group, so at every
      // MOS level the folds' cumulative sizes differ by less than one group.
      int64_t best = -1;
      uint64_t best_tie = 0;
      for (int64_t f = 0; f < k; ++f) {
        const uint64_t tie = rng();
        const auto size = fold_sizes[static_cast<size_t>(f)];
        if (best < 0 || size < fold_sizes[static_cast<size_t>(best)] ||
            (size == fold_sizes[static_cast<size_t>(best)] && tie < best_tie)) {
          best = f;
          best_tie = tie;
        }
      }
      for (int64_t member : groups[g].members) out.fold[static_cast<size_t>(member)] = best;
      fold_sizes[static_cast<size_t>(best)] += static_cast<int64_t>(groups[g].members.size());
    }
  }
  return out;
}

void write_folds(const std::string& path, const FoldAssignment& folds,
                 const std::vector<Record>& records) {
  nlohmann::ordered_json doc;
  doc["schema_version"] = kFoldsSchemaVersion;
  doc["k"] = folds.k;
  doc["seed"] = folds.seed;
  auto samples = nlohmann::ordered_json::array();
  for (size_t i = 0; i < folds.keys.size(); ++i) {
    nlohmann::ordered_json s;
    s["key"] = folds.keys[i];
    s["prompt_id"] = i < records.size() ? records[i].prompt_id : std::string();
    s["fold"] = folds.fold[i];
    samples.push_back(std::move(s));
  }
  doc["samples"] = std::move(samples);
  write_file_atomically(path, doc.dump(1) + "\n");
}

FoldAssignment read_folds(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_user_error("{}: cannot open folds file", path);
  std::ostringstream text;
  text << in.rdbuf();
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::parse_error& e) {
    throw_user_error("{}: not valid JSON: {}", path, e.what());
  }
  FoldAssignment out;
  try {
    if (doc.at("schema_version").get<int>() != kFoldsSchemaVersion)
      throw_user_error("{}: schema_version {} is not {}", path, doc.at("schema_version").dump(),
                       kFoldsSchemaVersion);
    out.k = doc.at("k").get<int64_t>();
    out.seed = doc.at("seed").get<uint64_t>();
    const auto& samples = doc.at("samples");
    for (size_t i = 0; i < samples.size(); ++i) {
      out.keys.push_back(samples[i].at("key").get<std::string>());
      const auto f = samples[i].at("fold").get<int64_t>();
      if (f < 0 || f >= out.k)
        throw_user_error("{}: samples[{}]: fold {} is outside [0, {})", path, i, f, out.k);
      out.fold.push_back(f);
    }
  } catch (const nlohmann::json::exception& e) {
    throw_user_error("{}: malformed folds file: {}", path, e.what());
  }
  return out;
}

FoldAssignment load_or_make_folds(const std::string& run_dir, const std::vector<Record>& records,
                                  int64_t k, uint64_t seed) {
  const std::string path = (std::filesystem::path(run_dir) / "folds.json").string();
  if (!std::filesystem::exists(path)) {
    auto folds = make_folds(records, k, seed);
    std::filesystem::create_directories(run_dir);
    write_folds(path, folds, records);
    log::info("folds: wrote {} ({} samples, k={}, seed={})", path, records.size(), k, seed);
    return folds;
  }
  const FoldAssignment saved = read_folds(path);
  if (saved.k != k || saved.seed != seed)
    throw_user_error(
        "{}: made with k={} seed={}, but the config says k={} seed={} (use a new run folder)", path,
        saved.k, saved.seed, k, seed);
  std::unordered_map<std::string, int64_t> fold_of;
  for (size_t i = 0; i < saved.keys.size(); ++i) fold_of.emplace(saved.keys[i], saved.fold[i]);
  FoldAssignment out;
  out.k = k;
  out.seed = seed;
  std::vector<std::string> unknown;
  for (const auto& r : records) {
    auto it = fold_of.find(r.img_path);
    if (it == fold_of.end()) {
      unknown.push_back(r.img_path);
      continue;
    }
    out.keys.push_back(r.img_path);
    out.fold.push_back(it->second);
  }
  const size_t vanished = saved.keys.size() - out.keys.size();
  if (!unknown.empty() || vanished != 0)
    throw_user_error(
        "{}: made for a different sample set: {} current record(s) are not in it{}, {} of its "
        "samples are "
        "not among the current records (use a new run folder or delete the file)",
        path, unknown.size(),
        unknown.empty() ? std::string() : fmt::format(" (e.g. \"{}\")", unknown.front()), vanished);
  log::info("folds: reusing {}", path);
  return out;
}

}  // namespace tokenfocus::data
