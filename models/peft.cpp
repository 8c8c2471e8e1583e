#include "models/peft.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/error.h"
#include "models/linear.h"
#include "models/safetensors.h"
#include "models/state_dict.h"

namespace tokenfocus::models {
namespace {

constexpr const char* kConfigFile = "adapter_config.json";
constexpr const char* kWeightsFile = "adapter_model.safetensors";
// PEFT's PeftModel wraps the model as base_model (LoraModel) whose .model is the original model.
constexpr const char* kKeyPrefix = "base_model.model.";

// transformers (since 4.52) nests the Qwen-VL decoder and vision tower one level deeper than the
// checkpoint names (model.language_model.layers.N, model.visual.blocks.N), and PEFT names adapter
// tensors after those modules; our modules carry the checkpoint names (model.layers.N,
// visual.blocks.N). Adapters of that layout (a `visual` tower beside `model`) are written with the
// nested names; other layouts (InternVL's language_model.model.layers.N) keep theirs.
const std::pair<const char*, const char*> kNestedPrefixes[] = {{"model.language_model.", "model."},
                                                               {"model.visual.", "visual."}};

std::string checkpoint_module_name(const std::string& name) {
  for (const auto& [nested, flat] : kNestedPrefixes)
    if (name.rfind(nested, 0) == 0) return flat + name.substr(std::string(nested).size());
  return name;
}

std::string transformers_module_name(const std::string& name) {
  for (const auto& [nested, flat] : kNestedPrefixes)
    if (name.rfind(flat, 0) == 0) return nested + name.substr(std::string(flat).size());
  return name;
}

std::vector<std::pair<std::string, std::shared_ptr<LinearImpl>>> linear_layers(
    torch::nn::Module& root) {
  std::vector<std::pair<std::string, std::shared_ptr<LinearImpl>>> layers;
  for (const auto& item : root.named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    if (auto linear = std::dynamic_pointer_cast<LinearImpl>(item.value()))
      layers.emplace_back(item.key(), linear);
  }
  return layers;
}

std::string joined(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) text += (text.empty() ? "" : ", ") + item;
  return text;
}

// A key of adapter_config.json that must be absent or hold `allowed` (e.g. use_dora: false).
void require_default(const nlohmann::json& config, const std::string& path, const char* key,
                     const std::function<bool(const nlohmann::json&)>& allowed, const char* why) {
  const auto found = config.find(key);
  if (found != config.end() && !found->is_null() && !allowed(*found))
    throw_user_error("{}: \"{}\" = {} is not supported ({})", path, key, found->dump(), why);
}

}  // namespace

std::vector<std::string> apply_lora(torch::nn::Module& root, const config::LoraConfig& lora) {
  LoraSettings settings;
  settings.rank = lora.rank;
  settings.alpha = lora.alpha;
  settings.dropout = lora.dropout;
  std::vector<std::string> adapted;
  for (auto& [name, linear] : linear_layers(root)) {
    if (!module_name_matches(name, lora.target_modules)) continue;
    if (linear->has_lora()) throw_user_error("LoRA: layer {} already has an adapter", name);
    linear->add_lora(settings);
    adapted.push_back(name);
  }
  if (adapted.empty())
    throw_user_error("LoRA: no linear layer matches target_modules [{}]",
                     joined(lora.target_modules));
  return adapted;
}

std::map<std::string, torch::Tensor> lora_state_dict(torch::nn::Module& root) {
  std::map<std::string, torch::Tensor> tensors;
  for (auto& [name, linear] : linear_layers(root)) {
    if (!linear->has_lora()) continue;
    tensors.emplace(name + ".lora_A.weight", linear->lora_a());
    tensors.emplace(name + ".lora_B.weight", linear->lora_b());
  }
  return tensors;
}

int merge_lora(torch::nn::Module& root) {
  int merged = 0;
  for (auto& [name, linear] : linear_layers(root)) {
    if (!linear->has_lora()) continue;
    linear->merge_lora();
    ++merged;
  }
  return merged;
}

void save_peft_adapter(const std::string& dir, torch::nn::Module& root,
                       const config::LoraConfig& lora, const std::string& base_model_name) {
  std::map<std::string, torch::Tensor> tensors;
  const bool qwen_vl_layout = root.named_children().contains("visual");
  for (const auto& [name, tensor] : lora_state_dict(root))
    tensors.emplace(kKeyPrefix + (qwen_vl_layout ? transformers_module_name(name) : name), tensor);
  if (tensors.empty()) throw_user_error("{}: the model has no LoRA adapters to save", dir);
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) throw_user_error("{}: cannot create the folder ({})", dir, error.message());

  // The fields PEFT (0.7 and later) writes for a plain LoRA; PEFT stores lora_alpha as an integer
  // when it is one.
  nlohmann::json config = {
      {"peft_type", "LORA"},
      {"task_type", "CAUSAL_LM"},
      {"base_model_name_or_path", base_model_name},
      {"r", lora.rank},
      {"lora_dropout", lora.dropout},
      {"target_modules", lora.target_modules},
      {"bias", "none"},
      {"fan_in_fan_out", false},
      {"inference_mode", true},
      {"init_lora_weights", true},
      {"modules_to_save", nullptr},
      {"layers_to_transform", nullptr},
      {"layers_pattern", nullptr},
      {"rank_pattern", nlohmann::json::object()},
      {"alpha_pattern", nlohmann::json::object()},
      {"revision", nullptr},
      {"auto_mapping", nullptr},
      {"use_rslora", false},
      {"use_dora", false},
  };
  if (lora.alpha == std::floor(lora.alpha) && std::abs(lora.alpha) < 1e15)
    config["lora_alpha"] = static_cast<int64_t>(lora.alpha);
  else
    config["lora_alpha"] = lora.alpha;

  save_safetensors((std::filesystem::path(dir) / kWeightsFile).string(), tensors,
                   {{"format", "pt"}});
  write_file_atomically((std::filesystem::path(dir) / kConfigFile).string(), config.dump(2) + "\n");
}

config::LoraConfig read_peft_adapter_config(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / kConfigFile).string();
  std::ifstream stream(path);
  if (!stream) throw_user_error("{}: cannot read (is {} a PEFT adapter folder?)", path, dir);
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(stream);
  } catch (const nlohmann::json::exception& e) {
    throw_user_error("{}: not valid JSON ({})", path, e.what());
  }
  if (!json.is_object()) throw_user_error("{}: expected a JSON object", path);
  const auto peft_type = json.find("peft_type");
  if (peft_type == json.end() || *peft_type != "LORA")
    throw_user_error("{}: \"peft_type\" must be \"LORA\"", path);

  config::LoraConfig lora;
  const auto r = json.find("r");
  if (r == json.end() || !r->is_number_integer() || r->get<int64_t>() < 1)
    throw_user_error("{}: \"r\" must be a positive integer", path);
  lora.rank = r->get<int64_t>();
  const auto alpha = json.find("lora_alpha");
  if (alpha == json.end() || !alpha->is_number() || alpha->get<double>() <= 0)
    throw_user_error("{}: \"lora_alpha\" must be a positive number", path);
  lora.alpha = alpha->get<double>();
  const auto dropout = json.find("lora_dropout");
  if (dropout != json.end()) {
    if (!dropout->is_number() || dropout->get<double>() < 0 || dropout->get<double>() >= 1)
      throw_user_error("{}: \"lora_dropout\" must be a number in [0, 1)", path);
    lora.dropout = dropout->get<double>();
  }
  const auto targets = json.find("target_modules");
  if (targets == json.end() || !targets->is_array() || targets->empty())
    throw_user_error(
        "{}: \"target_modules\" must be a non-empty list of module names (regular-expression "
        "strings "
        "and \"all-linear\" are not supported)",
        path);
  lora.target_modules.clear();
  for (const auto& target : *targets) {
    if (!target.is_string()) throw_user_error("{}: \"target_modules\" must hold strings", path);
    lora.target_modules.push_back(target.get<std::string>());
  }
  auto is_false = [](const nlohmann::json& v) { return v == false; };
  auto is_empty = [](const nlohmann::json& v) { return v.empty(); };
  require_default(
      json, path, "bias", [](const nlohmann::json& v) { return v == "none"; }, "trained biases");
  require_default(json, path, "fan_in_fan_out", is_false, "Conv1D-style transposed weights");
  require_default(json, path, "use_dora", is_false, "DoRA");
  require_default(json, path, "use_rslora", is_false, "rank-stabilised scaling");
  require_default(json, path, "rank_pattern", is_empty, "per-layer ranks");
  require_default(json, path, "alpha_pattern", is_empty, "per-layer alphas");
  require_default(json, path, "modules_to_save", is_empty, "fully trained extra modules");
  require_default(json, path, "layers_to_transform", is_empty, "layer subsets");
  // Keys of newer PEFT releases; null or false there means plain LoRA.
  require_default(json, path, "lora_bias", is_false, "trained LoRA biases");
  require_default(json, path, "use_qalora", is_false, "QA-LoRA");
  require_default(json, path, "exclude_modules", is_empty, "excluded modules");
  require_default(json, path, "target_parameters", is_empty, "LoRA on raw parameters");
  require_default(json, path, "trainable_token_indices", is_empty, "trained token rows");
  require_default(json, path, "alora_invocation_tokens", is_empty, "activated LoRA");
  require_default(json, path, "layer_replication", is_empty, "replicated layers");
  return lora;
}

config::LoraConfig load_peft_adapter(const std::string& dir, torch::nn::Module& root) {
  const config::LoraConfig lora = read_peft_adapter_config(dir);
  const std::string weights_path = (std::filesystem::path(dir) / kWeightsFile).string();
  const auto file_tensors = load_safetensors(weights_path);

  if (lora_state_dict(root).empty()) {
    apply_lora(root, lora);
  } else {
    const double scaling = lora.alpha / static_cast<double>(lora.rank);
    for (auto& [name, linear] : linear_layers(root)) {
      if (linear->has_lora() && std::abs(linear->lora_scaling() - scaling) > 1e-12 * scaling)
        throw_user_error("{}: layer {} has LoRA scaling {} but the adapter's alpha/r is {}",
                         weights_path, name, linear->lora_scaling(), scaling);
    }
  }
  const auto targets = lora_state_dict(root);

  std::vector<std::string> missing, unexpected, mismatched;
  std::map<std::string, torch::Tensor> by_module_name;
  const std::string prefix = kKeyPrefix;
  for (const auto& [key, tensor] : file_tensors) {
    const std::string name =
        key.rfind(prefix, 0) == 0 ? checkpoint_module_name(key.substr(prefix.size())) : "";
    if (name.empty() || !targets.count(name)) {
      unexpected.push_back(key);
      continue;
    }
    const auto& target = targets.at(name);
    if (tensor.sizes() != target.sizes() || !torch::isFloatingType(tensor.scalar_type()))
      mismatched.push_back(fmt::format("{}: {} {} vs model {}", key,
                                       c10::toString(tensor.scalar_type()),
                                       shape_text(tensor.sizes()), shape_text(target.sizes())));
    by_module_name.emplace(name, tensor);
  }
  for (const auto& [name, target] : targets) {
    if (!by_module_name.count(name)) missing.push_back(prefix + name);
  }
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::string message = fmt::format("{}: the adapter does not match the model", weights_path);
    auto list = [&](const char* title, const std::vector<std::string>& names) {
      if (names.empty()) return;
      message += fmt::format("\n  {} ({}):", title, names.size());
      for (std::size_t i = 0; i < names.size() && i < 40; ++i) message += "\n    " + names[i];
      if (names.size() > 40) message += fmt::format("\n    ... and {} more", names.size() - 40);
    };
    list("missing from the adapter", missing);
    list("unexpected in the adapter", unexpected);
    list("mismatched", mismatched);
    throw UserError(message);
  }
  torch::NoGradGuard no_grad;
  for (const auto& [name, target] : targets) {
    torch::Tensor slot = target;
    slot.copy_(by_module_name.at(name));
  }
  return lora;
}

}  // namespace tokenfocus::models
