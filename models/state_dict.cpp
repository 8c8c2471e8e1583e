#include "models/state_dict.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "models/safetensors.h"

namespace tokenfocus::models {
namespace {

// "  missing (3): a, b, c" — at most `kShown` names, then a count, so huge mismatches stay
// readable.
void append_list(std::string& message, const char* title, const std::vector<std::string>& names) {
  constexpr std::size_t kShown = 40;
  if (names.empty()) return;
  message += fmt::format("\n  {} ({}):", title, names.size());
  for (std::size_t i = 0; i < names.size() && i < kShown; ++i) message += "\n    " + names[i];
  if (names.size() > kShown) message += fmt::format("\n    ... and {} more", names.size() - kShown);
}

// target ← source (copy_ converts dtype and device), in slices of at most kSliceBytes of the source
// along dim 0, each slice's mapped file pages given back as soon as it is copied: loading a
// memory-mapped checkpoint then holds the weights once plus one slice, not twice.
void copy_releasing_source(torch::Tensor& target, const torch::Tensor& source) {
  constexpr int64_t kSliceBytes = 16 << 20;
  const int64_t bytes = source.numel() * source.element_size();
  if (source.dim() == 0 || bytes <= kSliceBytes || source.size(0) < 2) {
    target.copy_(source);
    release_mapped_pages(source);
    return;
  }
  const int64_t rows = std::max<int64_t>(1, source.size(0) * kSliceBytes / bytes);
  for (int64_t start = 0; start < source.size(0); start += rows) {
    const int64_t n = std::min(rows, source.size(0) - start);
    const torch::Tensor slice = source.narrow(0, start, n);
    target.narrow(0, start, n).copy_(slice);
    release_mapped_pages(slice);
  }
}

}  // namespace

torch::ScalarType build_dtype(const std::map<std::string, torch::Tensor>& tensors,
                              const LoadOptions& options) {
  if (options.dtype) return *options.dtype;
  std::map<torch::ScalarType, int64_t> elements;
  for (const auto& [name, tensor] : tensors)
    if (torch::isFloatingType(tensor.scalar_type()))
      elements[tensor.scalar_type()] += tensor.numel();
  torch::ScalarType most = torch::kFloat;
  int64_t count = -1;
  for (const auto& [dtype, n] : elements)
    if (n > count) most = dtype, count = n;
  return most;
}

DefaultDtypeScope::DefaultDtypeScope(torch::ScalarType dtype)
    : previous_(torch::get_default_dtype()) {
  torch::set_default_dtype(c10::scalarTypeToTypeMeta(dtype));
}

DefaultDtypeScope::~DefaultDtypeScope() {
  torch::set_default_dtype(previous_);
}

bool module_name_matches(const std::string& name, const std::vector<std::string>& patterns) {
  for (const auto& pattern : patterns) {
    if (name == pattern) return true;
    if (name.size() > pattern.size() &&
        name.compare(name.size() - pattern.size(), pattern.size(), pattern) == 0 &&
        name[name.size() - pattern.size() - 1] == '.')
      return true;
  }
  return false;
}

std::string shape_text(c10::IntArrayRef sizes) {
  std::string text = "[";
  for (std::size_t i = 0; i < sizes.size(); ++i) text += (i ? ", " : "") + std::to_string(sizes[i]);
  return text + "]";
}

std::string tensor_text(const torch::Tensor& tensor) {
  return std::string(c10::toString(tensor.scalar_type())) + " " + shape_text(tensor.sizes());
}

void load_state_dict_strict(torch::nn::Module& module,
                            const std::map<std::string, torch::Tensor>& tensors,
                            const std::string& source_name, const StrictLoadOptions& options) {
  std::map<std::string, torch::Tensor> targets;
  for (const auto& item : module.named_parameters(/*recurse=*/true))
    targets.emplace(item.key(), item.value());
  for (const auto& item : module.named_buffers(/*recurse=*/true))
    targets.emplace(item.key(), item.value());

  std::vector<std::string> missing, unexpected, mismatched;
  for (const auto& [name, target] : targets) {
    const auto found = tensors.find(name);
    if (found == tensors.end()) {
      if (!module_name_matches(name, options.allow_missing)) missing.push_back(name);
      continue;
    }
    const torch::Tensor& source = found->second;
    if (source.sizes() != target.sizes()) {
      mismatched.push_back(fmt::format("{}: checkpoint {} vs model {}", name,
                                       shape_text(source.sizes()), shape_text(target.sizes())));
    } else if (source.scalar_type() != target.scalar_type() &&
               !(torch::isFloatingType(source.scalar_type()) &&
                 torch::isFloatingType(target.scalar_type()))) {
      mismatched.push_back(fmt::format("{}: checkpoint dtype {} vs model {}", name,
                                       c10::toString(source.scalar_type()),
                                       c10::toString(target.scalar_type())));
    }
  }
  for (const auto& [name, tensor] : tensors) {
    if (!targets.count(name) && !module_name_matches(name, options.allow_unexpected))
      unexpected.push_back(name);
  }
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::string message = fmt::format("{}: the checkpoint does not match the model", source_name);
    append_list(message, "missing from the checkpoint", missing);
    append_list(message, "unexpected in the checkpoint", unexpected);
    append_list(message, "mismatched", mismatched);
    throw UserError(message);
  }

  torch::NoGradGuard no_grad;
  for (auto& [name, target] : targets) {
    const auto found = tensors.find(name);
    if (found == tensors.end()) continue;
    const torch::Tensor& source = found->second;
    if (options.keep_stored_dtypes && torch::isFloatingType(source.scalar_type()) &&
        source.scalar_type() != target.scalar_type())
      target.set_data(torch::empty(target.sizes(), target.options().dtype(source.scalar_type())));
    copy_releasing_source(target, source);
  }
}

std::map<std::string, torch::Tensor> load_checkpoint_dir(const std::string& model_dir) {
  namespace fs = std::filesystem;
  const fs::path dir(model_dir);
  const fs::path single = dir / "model.safetensors";
  const fs::path index_path = dir / "model.safetensors.index.json";
  if (fs::exists(single)) return load_safetensors(single.string());
  if (!fs::exists(index_path))
    throw_user_error("{}: no model.safetensors or model.safetensors.index.json in this folder",
                     model_dir);

  std::ifstream stream(index_path);
  if (!stream) throw_user_error("{}: cannot read", index_path.string());
  nlohmann::json index;
  try {
    index = nlohmann::json::parse(stream);
  } catch (const nlohmann::json::exception& e) {
    throw_user_error("{}: not valid JSON ({})", index_path.string(), e.what());
  }
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    throw_user_error("{}: expected an object with a \"weight_map\" object", index_path.string());

  std::map<std::string, std::set<std::string>> names_by_shard;
  for (const auto& item : index["weight_map"].items()) {
    if (!item.value().is_string())
      throw_user_error("{}: weight_map[\"{}\"] is not a file name", index_path.string(),
                       item.key());
    const std::string shard = item.value().get<std::string>();
    if (shard.empty() || fs::path(shard).has_parent_path())
      throw_user_error("{}: weight_map[\"{}\"] = \"{}\" is not a file in this folder",
                       index_path.string(), item.key(), shard);
    names_by_shard[shard].insert(item.key());
  }

  std::map<std::string, torch::Tensor> tensors;
  for (const auto& [shard, listed] : names_by_shard) {
    const fs::path shard_path = dir / shard;
    if (!fs::exists(shard_path))
      throw_user_error("{}: shard {} is listed but missing", index_path.string(),
                       shard_path.string());
    const SafetensorsFile file = SafetensorsFile::open(shard_path.string());
    for (const auto& name : listed) {
      if (!file.contains(name))
        throw_user_error("{}: tensor \"{}\" is listed in {} but absent", shard_path.string(), name,
                         index_path.filename().string());
    }
    for (const auto& name : file.names()) {
      if (!listed.count(name))
        throw_user_error("{}: tensor \"{}\" is not listed for this shard in {}",
                         shard_path.string(), name, index_path.filename().string());
      tensors.emplace(name, file.get(name));
    }
  }
  return tensors;
}

}  // namespace tokenfocus::models
