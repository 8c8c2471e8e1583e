#include "models/hf_config.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "models/json_keys.h"

namespace tokenfocus::models {
namespace {

using nlohmann::json;

void read_vision(const json& object, const std::string& model_type, HfVisionConfig& vision,
                 const std::string& where) {
  const bool qwen2_vl = model_type == "qwen2_vl";
  // transformers 4.49 Qwen2VLVisionConfig / Qwen2_5_VLVisionConfig defaults.
  vision.depth = 32;
  vision.num_heads = 16;
  if (qwen2_vl) {
    vision.hidden_size = 1280;      // embed_dim
    vision.out_hidden_size = 3584;  // hidden_size
    vision.hidden_act = "quick_gelu";
    read_json_key(object, "embed_dim", vision.hidden_size, where);
    read_json_key(object, "hidden_size", vision.out_hidden_size, where);
    read_json_key(object, "mlp_ratio", vision.mlp_ratio, where);
  } else {
    vision.hidden_size = 3584;
    vision.out_hidden_size = 3584;
    vision.hidden_act = "silu";
    vision.intermediate_size = 3420;
    vision.window_size = 112;
    vision.fullatt_block_indexes = {7, 15, 23, 31};
    vision.tokens_per_second = 4;
    read_json_key(object, "hidden_size", vision.hidden_size, where);
    read_json_key(object, "out_hidden_size", vision.out_hidden_size, where);
    read_json_key(object, "intermediate_size", vision.intermediate_size, where);
    read_json_key(object, "window_size", vision.window_size, where);
    read_json_key(object, "fullatt_block_indexes", vision.fullatt_block_indexes, where);
    read_json_key(object, "tokens_per_second", vision.tokens_per_second, where);
  }
  read_json_key(object, "depth", vision.depth, where);
  read_json_key(object, "num_heads", vision.num_heads, where);
  read_json_key(object, "in_channels", vision.in_channels, where);
  read_json_key(object, "patch_size", vision.patch_size, where);
  read_json_key(object, "spatial_merge_size", vision.spatial_merge_size, where);
  read_json_key(object, "temporal_patch_size", vision.temporal_patch_size, where);
  read_json_key(object, "hidden_act", vision.hidden_act, where);
  read_json_key(object, "initializer_range", vision.initializer_range, where);

  check_json_positive(vision.depth, "depth", where);
  check_json_positive(vision.hidden_size, qwen2_vl ? "embed_dim" : "hidden_size", where);
  check_json_positive(vision.num_heads, "num_heads", where);
  check_json_positive(vision.patch_size, "patch_size", where);
  check_json_positive(vision.spatial_merge_size, "spatial_merge_size", where);
  check_json_positive(vision.temporal_patch_size, "temporal_patch_size", where);
  if (vision.hidden_size % vision.num_heads != 0 || vision.head_dim() % 4 != 0)
    throw_user_error("{}: vision width {} must split into {} heads whose size is a multiple of 4",
                     where, vision.hidden_size, vision.num_heads);
  if (vision.hidden_act != "quick_gelu" && vision.hidden_act != "silu" &&
      vision.hidden_act != "gelu")
    throw_user_error("{}: hidden_act '{}' is not supported (quick_gelu, silu, gelu)", where,
                     vision.hidden_act);
  for (int64_t index : vision.fullatt_block_indexes)
    if (index < 0 || index >= vision.depth)
      throw_user_error("{}: fullatt_block_indexes entry {} is outside 0..{}", where, index,
                       vision.depth - 1);
  if (!qwen2_vl) {
    const int64_t unit = vision.spatial_merge_size * vision.patch_size;
    if (vision.window_size < unit || vision.window_size % unit != 0)
      throw_user_error("{}: window_size {} must be a positive multiple of {} (merge x patch)",
                       where, vision.window_size, unit);
  }
}

}  // namespace

HfModelConfig parse_hf_config(const std::string& json_text, const std::string& source) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::parse_error& error) {
    throw_user_error("{}: not valid JSON: {}", source, error.what());
  }
  if (!root.is_object()) throw_user_error("{}: expected a JSON object", source);

  HfModelConfig config;
  read_json_key(root, "model_type", config.model_type, source);
  if (config.model_type != "qwen2_vl" && config.model_type != "qwen2_5_vl")
    throw_user_error("{}: model_type '{}' is not supported here (qwen2_vl, qwen2_5_vl)", source,
                     config.model_type);
  // transformers 4.5x nests the decoder's keys in text_config as well, 5.x writes them only there:
  // read the top level first, then let text_config override.
  const auto text_config = root.find("text_config");
  const bool nested = text_config != root.end() && text_config->is_object();
  const std::string text_source = source + " text_config";
  const auto read_text_key = [&](const char* key, auto& field) {
    read_json_key(root, key, field, source);
    if (nested) read_json_key(*text_config, key, field, text_source);
  };
  read_text_key("vocab_size", config.vocab_size);
  read_text_key("hidden_size", config.hidden_size);
  read_text_key("intermediate_size", config.intermediate_size);
  read_text_key("num_hidden_layers", config.num_hidden_layers);
  read_text_key("num_attention_heads", config.num_attention_heads);
  read_text_key("num_key_value_heads", config.num_key_value_heads);
  const json& kv_owner =
      nested && text_config->contains("num_key_value_heads") ? *text_config : root;
  if (kv_owner.contains("num_key_value_heads") && kv_owner["num_key_value_heads"].is_null())
    config.num_key_value_heads = config.num_attention_heads;  // HF: None means plain MHA
  read_text_key("hidden_act", config.hidden_act);
  read_text_key("rms_norm_eps", config.rms_norm_eps);
  read_text_key("rope_theta", config.rope_theta);
  read_text_key("tie_word_embeddings", config.tie_word_embeddings);
  read_text_key("initializer_range", config.initializer_range);
  read_text_key("attention_dropout", config.attention_dropout);
  read_text_key("bos_token_id", config.bos_token_id);
  read_text_key("eos_token_id", config.eos_token_id);
  read_text_key("pad_token_id", config.pad_token_id);
  read_json_key(root, "vision_start_token_id", config.vision_start_token_id, source);
  read_json_key(root, "vision_end_token_id", config.vision_end_token_id, source);
  read_json_key(root, "image_token_id", config.image_token_id, source);
  read_json_key(root, "video_token_id", config.video_token_id, source);

  // HF rewrites rope type "mrope" to "default" when it builds the config; the section list alone
  // says that positions are 3-D (temporal, height, width). transformers 5 renamed rope_scaling to
  // rope_parameters and moved rope_theta into it.
  for (const json* owner : {&root, nested ? &*text_config : nullptr}) {
    if (!owner) continue;
    for (const char* section : {"rope_scaling", "rope_parameters"}) {
      const auto rope = owner->find(section);
      if (rope == owner->end() || !rope->is_object()) continue;
      const std::string where = (owner == &root ? source : text_source) + " " + section;
      read_json_key(*rope, "mrope_section", config.mrope_section, where);
      read_json_key(*rope, "rope_theta", config.rope_theta, where);
    }
  }

  check_json_positive(config.vocab_size, "vocab_size", source);
  check_json_positive(config.hidden_size, "hidden_size", source);
  check_json_positive(config.intermediate_size, "intermediate_size", source);
  check_json_positive(config.num_hidden_layers, "num_hidden_layers", source);
  check_json_positive(config.num_attention_heads, "num_attention_heads", source);
  check_json_positive(config.num_key_value_heads, "num_key_value_heads", source);
  if (config.hidden_size % config.num_attention_heads != 0 ||
      config.num_attention_heads % config.num_key_value_heads != 0 || config.head_dim() % 2 != 0)
    throw_user_error(
        "{}: hidden_size {} / num_attention_heads {} / num_key_value_heads {} do not form an even "
        "head size with whole GQA groups",
        source, config.hidden_size, config.num_attention_heads, config.num_key_value_heads);
  if (config.hidden_act != "silu")
    throw_user_error("{}: hidden_act '{}' is not supported for the decoder (silu)", source,
                     config.hidden_act);
  if (config.mrope_section.size() != 3)
    throw_user_error("{}: rope_scaling.mrope_section must list 3 sizes (temporal, height, width)",
                     source);
  int64_t section_sum = 0;
  for (int64_t part : config.mrope_section) section_sum += part;
  if (section_sum * 2 != config.head_dim())
    throw_user_error("{}: rope_scaling.mrope_section sums to {}, expected head_dim/2 = {}", source,
                     section_sum, config.head_dim() / 2);

  const auto vision = root.find("vision_config");
  read_vision(vision != root.end() && vision->is_object() ? *vision : json::object(),
              config.model_type, config.vision, source + " vision_config");
  if (config.vision.out_hidden_size != config.hidden_size)
    throw_user_error("{}: the vision merger writes {} features but the text hidden_size is {}",
                     source, config.vision.out_hidden_size, config.hidden_size);
  for (int64_t id : {config.vision_start_token_id, config.vision_end_token_id,
                     config.image_token_id, config.video_token_id})
    if (id < 0 || id >= config.vocab_size)
      throw_user_error("{}: special token id {} is outside the vocabulary of {}", source, id,
                       config.vocab_size);
  return config;
}

HfModelConfig read_hf_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw_user_error("{}: cannot open the model config", path);
  std::stringstream text;
  text << in.rdbuf();
  return parse_hf_config(text.str(), path);
}

std::string hf_config_to_json(const HfModelConfig& config) {
  const bool qwen2_vl = config.model_type == "qwen2_vl";
  json vision = {{"depth", config.vision.depth},
                 {"num_heads", config.vision.num_heads},
                 {"in_channels", config.vision.in_channels},
                 {"patch_size", config.vision.patch_size},
                 {"spatial_merge_size", config.vision.spatial_merge_size},
                 {"temporal_patch_size", config.vision.temporal_patch_size},
                 {"hidden_act", config.vision.hidden_act},
                 {"initializer_range", config.vision.initializer_range},
                 {"model_type", config.model_type}};
  if (qwen2_vl) {
    vision["embed_dim"] = config.vision.hidden_size;
    vision["hidden_size"] = config.vision.out_hidden_size;
    // An integer where it is one: transformers 5 validates mlp_ratio as an int.
    const double ratio = config.vision.mlp_ratio;
    if (ratio == std::floor(ratio))
      vision["mlp_ratio"] = static_cast<int64_t>(ratio);
    else
      vision["mlp_ratio"] = ratio;
  } else {
    vision["hidden_size"] = config.vision.hidden_size;
    vision["out_hidden_size"] = config.vision.out_hidden_size;
    vision["intermediate_size"] = config.vision.intermediate_size;
    vision["window_size"] = config.vision.window_size;
    vision["fullatt_block_indexes"] = config.vision.fullatt_block_indexes;
    vision["tokens_per_second"] = config.vision.tokens_per_second;
  }
  json root = {
      {"architectures",
       {qwen2_vl ? "Qwen2VLForConditionalGeneration" : "Qwen2_5_VLForConditionalGeneration"}},
      {"model_type", config.model_type},
      {"vocab_size", config.vocab_size},
      {"hidden_size", config.hidden_size},
      {"intermediate_size", config.intermediate_size},
      {"num_hidden_layers", config.num_hidden_layers},
      {"num_attention_heads", config.num_attention_heads},
      {"num_key_value_heads", config.num_key_value_heads},
      {"hidden_act", config.hidden_act},
      {"rms_norm_eps", config.rms_norm_eps},
      {"rope_theta", config.rope_theta},
      {"rope_scaling", {{"type", "mrope"}, {"mrope_section", config.mrope_section}}},
      {"tie_word_embeddings", config.tie_word_embeddings},
      {"initializer_range", config.initializer_range},
      {"attention_dropout", config.attention_dropout},
      {"bos_token_id", config.bos_token_id},
      {"eos_token_id", config.eos_token_id},
      {"vision_start_token_id", config.vision_start_token_id},
      {"vision_end_token_id", config.vision_end_token_id},
      {"image_token_id", config.image_token_id},
      {"video_token_id", config.video_token_id},
      {"torch_dtype", "float32"},
      {"vision_config", vision}};
  if (config.pad_token_id >= 0) root["pad_token_id"] = config.pad_token_id;
  return root.dump(2) + "\n";
}

}  // namespace tokenfocus::models
