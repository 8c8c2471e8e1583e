#include "models/internvl_config.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "models/json_keys.h"

namespace tokenfocus::models {
namespace {

using nlohmann::json;

const json& section(const json& root, const char* key, const std::string& source) {
  const auto it = root.find(key);
  if (it == root.end() || !it->is_object())
    throw_user_error("{}: key '{}' must be an object (InternVLChatConfig writes it in full)",
                     source, key);
  return *it;
}

void read_vision(const json& object, InternVisionConfig& v, const std::string& where) {
  read_json_key(object, "num_channels", v.num_channels, where);
  read_json_key(object, "patch_size", v.patch_size, where);
  read_json_key(object, "image_size", v.image_size, where);
  read_json_key(object, "hidden_size", v.hidden_size, where);
  read_json_key(object, "num_hidden_layers", v.num_hidden_layers, where);
  read_json_key(object, "num_attention_heads", v.num_attention_heads, where);
  read_json_key(object, "intermediate_size", v.intermediate_size, where);
  read_json_key(object, "hidden_act", v.hidden_act, where);
  read_json_key(object, "norm_type", v.norm_type, where);
  read_json_key(object, "layer_norm_eps", v.layer_norm_eps, where);
  read_json_key(object, "qkv_bias", v.qkv_bias, where);
  read_json_key(object, "qk_normalization", v.qk_normalization, where);
  read_json_key(object, "initializer_factor", v.initializer_factor, where);
  read_json_key(object, "initializer_range", v.initializer_range, where);
  check_json_positive(v.num_channels, "num_channels", where);
  check_json_positive(v.patch_size, "patch_size", where);
  check_json_positive(v.hidden_size, "hidden_size", where);
  check_json_positive(v.num_hidden_layers, "num_hidden_layers", where);
  check_json_positive(v.num_attention_heads, "num_attention_heads", where);
  check_json_positive(v.intermediate_size, "intermediate_size", where);
  if (v.image_size % v.patch_size != 0)
    throw_user_error("{}: image_size {} is not a multiple of patch_size {}", where, v.image_size,
                     v.patch_size);
  if (v.hidden_size % v.num_attention_heads != 0)
    throw_user_error("{}: hidden_size {} is not divisible by num_attention_heads {}", where,
                     v.hidden_size, v.num_attention_heads);
  if (v.norm_type != "rms_norm" && v.norm_type != "layer_norm")
    throw_user_error("{}: norm_type '{}' is not supported (rms_norm, layer_norm)", where,
                     v.norm_type);
  if (v.hidden_act != "gelu")
    throw_user_error("{}: hidden_act '{}' is not supported (gelu)", where, v.hidden_act);
}

void read_llm(const json& object, InternVLConfig& config, const std::string& where) {
  std::string type;
  read_json_key(object, "model_type", type, where);
  if (type.empty()) {
    std::vector<std::string> architectures;
    read_json_key(object, "architectures", architectures, where);
    if (!architectures.empty() && architectures[0] == "Qwen2ForCausalLM") type = "qwen2";
    if (!architectures.empty() && architectures[0] == "InternLM2ForCausalLM") type = "internlm2";
  }
  if (type != "qwen2" && type != "internlm2")
    throw_user_error("{}: model_type '{}' is not supported as InternVL LLM (qwen2, internlm2)",
                     where, type);
  config.llm_type = type;
  HfModelConfig& llm = config.llm;
  llm.model_type = type;
  llm.hidden_act = "silu";
  llm.initializer_range = 0.02;
  llm.tie_word_embeddings = false;
  if (type == "qwen2") {  // transformers 4.49 Qwen2Config defaults
    llm.vocab_size = 151936;
    llm.hidden_size = 4096;
    llm.intermediate_size = 22016;
    llm.num_hidden_layers = 32;
    llm.num_attention_heads = 32;
    llm.num_key_value_heads = 32;
    llm.rms_norm_eps = 1e-6;
    llm.rope_theta = 10000.0;
    llm.pad_token_id = -1;
    config.max_position_embeddings = 32768;
  } else {  // InternLM2Config defaults
    llm.vocab_size = 103168;
    llm.hidden_size = 4096;
    llm.intermediate_size = 11008;
    llm.num_hidden_layers = 32;
    llm.num_attention_heads = 32;
    llm.num_key_value_heads = -1;  // None = num_attention_heads
    llm.rms_norm_eps = 1e-6;
    llm.rope_theta = 10000.0;
    llm.pad_token_id = 0;
    llm.bos_token_id = 1;
    llm.eos_token_id = 2;
    config.llm_bias = true;
    config.max_position_embeddings = 2048;
  }
  read_json_key(object, "vocab_size", llm.vocab_size, where);
  read_json_key(object, "hidden_size", llm.hidden_size, where);
  read_json_key(object, "intermediate_size", llm.intermediate_size, where);
  read_json_key(object, "num_hidden_layers", llm.num_hidden_layers, where);
  read_json_key(object, "num_attention_heads", llm.num_attention_heads, where);
  read_json_key(object, "num_key_value_heads", llm.num_key_value_heads, where);
  if (llm.num_key_value_heads <= 0) llm.num_key_value_heads = llm.num_attention_heads;
  read_json_key(object, "hidden_act", llm.hidden_act, where);
  read_json_key(object, "rms_norm_eps", llm.rms_norm_eps, where);
  read_json_key(object, "rope_theta", llm.rope_theta, where);
  read_json_key(object, "tie_word_embeddings", llm.tie_word_embeddings, where);
  read_json_key(object, "initializer_range", llm.initializer_range, where);
  read_json_key(object, "bos_token_id", llm.bos_token_id, where);
  read_json_key(object, "eos_token_id", llm.eos_token_id, where);
  read_json_key(object, "max_position_embeddings", config.max_position_embeddings, where);
  if (type == "internlm2") {
    read_json_key(object, "pad_token_id", llm.pad_token_id, where);
    read_json_key(object, "bias", config.llm_bias, where);
  }
  // Qwen2ForCausalLM builds nn.Embedding without padding_idx: pad_token_id plays no role there.
  check_json_positive(llm.vocab_size, "vocab_size", where);
  check_json_positive(llm.hidden_size, "hidden_size", where);
  check_json_positive(llm.intermediate_size, "intermediate_size", where);
  check_json_positive(llm.num_hidden_layers, "num_hidden_layers", where);
  check_json_positive(llm.num_attention_heads, "num_attention_heads", where);
  if (llm.hidden_size % llm.num_attention_heads != 0 ||
      llm.num_attention_heads % llm.num_key_value_heads != 0)
    throw_user_error(
        "{}: hidden_size {}, num_attention_heads {}, num_key_value_heads {} do not "
        "divide evenly",
        where, llm.hidden_size, llm.num_attention_heads, llm.num_key_value_heads);
  if (llm.hidden_act != "silu")
    throw_user_error("{}: hidden_act '{}' is not supported (silu)", where, llm.hidden_act);
  if (llm.tie_word_embeddings)
    throw_user_error(
        "{}: tie_word_embeddings true is not supported (InternVLChatConfig forces "
        "false)",
        where);
  bool sliding = false;
  read_json_key(object, "use_sliding_window", sliding, where);
  if (sliding) throw_user_error("{}: use_sliding_window true is not supported", where);
  const auto scaling = object.find("rope_scaling");
  if (scaling != object.end() && !scaling->is_null()) {
    const std::string key_where = where + " rope_scaling";
    if (!scaling->is_object()) throw_user_error("{}: must be an object or null", key_where);
    std::string kind;
    read_json_key(*scaling, "type", kind, key_where);
    if (kind.empty()) read_json_key(*scaling, "rope_type", kind, key_where);
    read_json_key(*scaling, "factor", config.rope_scaling_factor, key_where);
    if (type != "internlm2" || (kind != "dynamic" && kind != "linear"))
      throw_user_error("{}: type '{}' is not supported for {} (internlm2: dynamic, linear)",
                       key_where, kind, type);
    if (!(config.rope_scaling_factor >= 1.0))
      throw_user_error("{}: factor must be >= 1, got {}", key_where, config.rope_scaling_factor);
    config.rope_scaling_type = kind;
  }
  // The Qwen2 decoder's M-RoPE with every band on row 0 = plain rotary embedding.
  llm.mrope_section = {llm.head_dim() / 2, 0, 0};
}

}  // namespace

int64_t InternVLConfig::num_image_token() const {
  const int64_t grid = force_image_size / vision.patch_size;
  return static_cast<int64_t>(std::llround(grid * grid * downsample_ratio * downsample_ratio));
}

int64_t InternVLConfig::projector_in() const {
  const int64_t scale = static_cast<int64_t>(std::llround(1.0 / downsample_ratio));
  return vision.hidden_size * scale * scale;
}

InternVLConfig parse_internvl_config(const std::string& json_text, const std::string& source) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::parse_error& error) {
    throw_user_error("{}: not valid JSON ({})", source, error.what());
  }
  if (!root.is_object()) throw_user_error("{}: expected a JSON object", source);
  std::string model_type;
  read_json_key(root, "model_type", model_type, source);
  if (model_type != "internvl_chat")
    throw_user_error("{}: model_type '{}' is not internvl_chat", source, model_type);
  InternVLConfig config;
  read_vision(section(root, "vision_config", source), config.vision, source + " vision_config");
  read_llm(section(root, "llm_config", source), config, source + " llm_config");
  // InternVLChatConfig defaults.
  config.ps_version = "v1";
  config.template_name.clear();
  config.dynamic_image_size = false;
  config.use_thumbnail = false;
  config.max_dynamic_patch = 6;
  config.force_image_size = config.vision.image_size;
  read_json_key(root, "select_layer", config.select_layer, source);
  read_json_key(root, "downsample_ratio", config.downsample_ratio, source);
  read_json_key(root, "ps_version", config.ps_version, source);
  read_json_key(root, "template", config.template_name, source);
  read_json_key(root, "force_image_size", config.force_image_size, source);
  read_json_key(root, "dynamic_image_size", config.dynamic_image_size, source);
  read_json_key(root, "use_thumbnail", config.use_thumbnail, source);
  read_json_key(root, "min_dynamic_patch", config.min_dynamic_patch, source);
  read_json_key(root, "max_dynamic_patch", config.max_dynamic_patch, source);
  read_json_key(root, "img_context_token_id", config.img_context_token_id, source);
  int64_t backbone_lora = 0, llm_lora = 0;
  read_json_key(root, "use_backbone_lora", backbone_lora, source);
  read_json_key(root, "use_llm_lora", llm_lora, source);
  if (backbone_lora != 0 || llm_lora != 0)
    throw_user_error(
        "{}: use_backbone_lora / use_llm_lora must be 0 (a checkpoint with PEFT "
        "wrappers inside; merge it first, LoRA is configured by training.lora)",
        source);
  if (config.ps_version != "v1" && config.ps_version != "v2")
    throw_user_error("{}: ps_version '{}' is not supported (v1, v2)", source, config.ps_version);
  const int64_t layers = config.vision.num_hidden_layers;
  if (config.select_layer < -(layers + 1) || config.select_layer > layers)
    throw_user_error("{}: select_layer {} is outside [-{}, {}]", source, config.select_layer,
                     layers + 1, layers);
  const double inverse = 1.0 / config.downsample_ratio;
  if (!(config.downsample_ratio > 0) || std::abs(inverse - std::round(inverse)) > 1e-9)
    throw_user_error("{}: downsample_ratio {} must be 1/n", source, config.downsample_ratio);
  const int64_t grid = config.force_image_size / config.vision.patch_size;
  const int64_t scale = std::llround(inverse);
  if (config.force_image_size % config.vision.patch_size != 0 || grid % scale != 0)
    throw_user_error("{}: force_image_size {} must give a patch grid divisible by {}", source,
                     config.force_image_size, scale);
  return config;
}

InternVLConfig read_internvl_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw_user_error("{}: cannot open", path);
  std::stringstream text;
  text << in.rdbuf();
  return parse_internvl_config(text.str(), path);
}

bool is_internvl_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) return false;
  const json root = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!root.is_object()) return false;
  const auto it = root.find("model_type");
  return it != root.end() && it->is_string() && it->get<std::string>() == "internvl_chat";
}

std::string internvl_config_to_json(const InternVLConfig& config) {
  const InternVisionConfig& v = config.vision;
  const HfModelConfig& llm = config.llm;
  json vision = {{"architectures", {"InternVisionModel"}},
                 {"model_type", "intern_vit_6b"},
                 {"num_channels", v.num_channels},
                 {"patch_size", v.patch_size},
                 {"image_size", v.image_size},
                 {"hidden_size", v.hidden_size},
                 {"num_hidden_layers", v.num_hidden_layers},
                 {"num_attention_heads", v.num_attention_heads},
                 {"intermediate_size", v.intermediate_size},
                 {"hidden_act", v.hidden_act},
                 {"norm_type", v.norm_type},
                 {"layer_norm_eps", v.layer_norm_eps},
                 {"qkv_bias", v.qkv_bias},
                 {"qk_normalization", v.qk_normalization},
                 {"initializer_factor", v.initializer_factor},
                 {"initializer_range", v.initializer_range},
                 {"dropout", 0.0},
                 {"attention_dropout", 0.0},
                 {"drop_path_rate", 0.0},
                 {"use_flash_attn", false}};
  const bool internlm2 = config.llm_type == "internlm2";
  json text = {{"architectures", {internlm2 ? "InternLM2ForCausalLM" : "Qwen2ForCausalLM"}},
               {"model_type", config.llm_type},
               {"vocab_size", llm.vocab_size},
               {"hidden_size", llm.hidden_size},
               {"intermediate_size", llm.intermediate_size},
               {"num_hidden_layers", llm.num_hidden_layers},
               {"num_attention_heads", llm.num_attention_heads},
               {"num_key_value_heads", llm.num_key_value_heads},
               {"hidden_act", llm.hidden_act},
               {"rms_norm_eps", llm.rms_norm_eps},
               {"rope_theta", llm.rope_theta},
               {"max_position_embeddings", config.max_position_embeddings},
               {"tie_word_embeddings", false},
               {"initializer_range", llm.initializer_range},
               {"bos_token_id", llm.bos_token_id},
               {"eos_token_id", llm.eos_token_id},
               {"attn_implementation", "eager"}};
  if (internlm2) {
    text["bias"] = config.llm_bias;
    text["pad_token_id"] = llm.pad_token_id;
  } else {
    text["use_sliding_window"] = false;
  }
  text["rope_scaling"] =
      config.rope_scaling_type.empty()
          ? json(nullptr)
          : json{{"type", config.rope_scaling_type}, {"factor", config.rope_scaling_factor}};
  json root = {{"architectures", {"InternVLChatModel"}},
               {"model_type", "internvl_chat"},
               {"vision_config", vision},
               {"llm_config", text},
               {"select_layer", config.select_layer},
               {"downsample_ratio", config.downsample_ratio},
               {"ps_version", config.ps_version},
               {"template", config.template_name},
               {"force_image_size", config.force_image_size},
               {"dynamic_image_size", config.dynamic_image_size},
               {"use_thumbnail", config.use_thumbnail},
               {"min_dynamic_patch", config.min_dynamic_patch},
               {"max_dynamic_patch", config.max_dynamic_patch},
               {"use_backbone_lora", 0},
               {"use_llm_lora", 0},
               {"tie_word_embeddings", false},
               {"hidden_size", llm.hidden_size}};
  if (config.img_context_token_id >= 0) root["img_context_token_id"] = config.img_context_token_id;
  return root.dump(2) + "\n";
}

int64_t find_img_context_token_id(const std::string& model_dir) {
  const std::filesystem::path dir(model_dir);
  auto read_json = [](const std::filesystem::path& path) {
    std::ifstream in(path);
    return in ? json::parse(in, nullptr, /*allow_exceptions=*/false) : json();
  };
  const json added = read_json(dir / "added_tokens.json");
  if (added.is_object()) {
    const auto it = added.find("<IMG_CONTEXT>");
    if (it != added.end() && it->is_number_integer()) return it->get<int64_t>();
  }
  const json tokenizer = read_json(dir / "tokenizer.json");
  if (tokenizer.is_object()) {
    const auto tokens = tokenizer.find("added_tokens");
    if (tokens != tokenizer.end() && tokens->is_array())
      for (const json& token : *tokens)
        if (token.is_object() && token.value("content", "") == "<IMG_CONTEXT>" &&
            token.contains("id") && token["id"].is_number_integer())
          return token["id"].get<int64_t>();
  }
  return -1;
}

}  // namespace tokenfocus::models
