#include "models/parameter_count.h"

#include <cmath>

#include <fmt/format.h>

#include "common/error.h"

namespace tokenfocus::models {
namespace {

// Appends parameters and linear layers under a module-name prefix, mirroring register_module.
class ShapeList {
 public:
  explicit ShapeList(ArchitectureShapes& out) : out_(out) {}

  void param(const std::string& name, std::vector<int64_t> shape, bool vision = false) {
    out_.parameters.push_back({name, std::move(shape), vision});
  }
  // models::Linear: "weight" [out, in], then "bias" [out].
  void linear(const std::string& name, int64_t in, int64_t out, bool bias, bool vision = false) {
    param(name + ".weight", {out, in}, vision);
    if (bias) param(name + ".bias", {out}, vision);
    out_.linears.push_back({name, in, out, vision});
  }
  // torch::nn::LayerNorm (weight, bias) or RmsNorm (weight).
  void norm(const std::string& name, int64_t dim, bool with_bias, bool vision = false) {
    param(name + ".weight", {dim}, vision);
    if (with_bias) param(name + ".bias", {dim}, vision);
  }

 private:
  ArchitectureShapes& out_;
};

// models/qwen2_decoder.cpp: Qwen2Decoder under `prefix` ("model" or "language_model.model").
void qwen2_decoder(ShapeList& s, const std::string& prefix, const HfModelConfig& c) {
  const int64_t d = c.head_dim();
  s.param(prefix + ".embed_tokens.weight", {c.vocab_size, c.hidden_size});
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string l = fmt::format("{}.layers.{}", prefix, i);
    s.linear(l + ".self_attn.q_proj", c.hidden_size, c.num_attention_heads * d, true);
    s.linear(l + ".self_attn.k_proj", c.hidden_size, c.num_key_value_heads * d, true);
    s.linear(l + ".self_attn.v_proj", c.hidden_size, c.num_key_value_heads * d, true);
    s.linear(l + ".self_attn.o_proj", c.num_attention_heads * d, c.hidden_size, false);
    s.linear(l + ".mlp.gate_proj", c.hidden_size, c.intermediate_size, false);
    s.linear(l + ".mlp.up_proj", c.hidden_size, c.intermediate_size, false);
    s.linear(l + ".mlp.down_proj", c.intermediate_size, c.hidden_size, false);
    s.norm(l + ".input_layernorm", c.hidden_size, false);
    s.norm(l + ".post_attention_layernorm", c.hidden_size, false);
  }
  s.norm(prefix + ".norm", c.hidden_size, false);
}

void fill_decoder_sizes(ArchitectureSizes& z, const HfModelConfig& c) {
  z.layers = c.num_hidden_layers;
  z.hidden = c.hidden_size;
  z.intermediate = c.intermediate_size;
  z.heads = c.num_attention_heads;
  z.kv_heads = c.num_key_value_heads;
  z.head_dim = c.head_dim();
  z.vocab = c.vocab_size;
}

}  // namespace

int64_t ParameterShape::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

ArchitectureShapes architecture_shapes(const HfModelConfig& c) {
  ArchitectureShapes out;
  ShapeList s(out);
  const HfVisionConfig& v = c.vision;
  const bool qwen25 = c.model_type == "qwen2_5_vl";
  if (!qwen25 && c.model_type != "qwen2_vl")
    throw_user_error("model_type '{}': no parameter table (qwen2_vl, qwen2_5_vl, internvl_chat)",
                     c.model_type);
  // models/qwen2_vl_vision.cpp, models/qwen2_5_vl_vision.cpp: `visual.*`.
  const int64_t dim = v.hidden_size;
  const int64_t mlp =
      qwen25 ? v.intermediate_size : static_cast<int64_t>(static_cast<double>(dim) * v.mlp_ratio);
  s.param("visual.patch_embed.proj.weight",
          {dim, v.in_channels, v.temporal_patch_size, v.patch_size, v.patch_size}, true);
  for (int64_t i = 0; i < v.depth; ++i) {
    const std::string b = fmt::format("visual.blocks.{}", i);
    s.norm(b + ".norm1", dim, !qwen25, true);
    s.norm(b + ".norm2", dim, !qwen25, true);
    s.linear(b + ".attn.qkv", dim, 3 * dim, true, true);
    s.linear(b + ".attn.proj", dim, dim, true, true);
    if (qwen25) {
      s.linear(b + ".mlp.gate_proj", dim, mlp, true, true);
      s.linear(b + ".mlp.up_proj", dim, mlp, true, true);
      s.linear(b + ".mlp.down_proj", mlp, dim, true, true);
    } else {
      s.linear(b + ".mlp.fc1", dim, mlp, true, true);
      s.linear(b + ".mlp.fc2", mlp, dim, true, true);
    }
  }
  const int64_t grouped = dim * v.spatial_merge_size * v.spatial_merge_size;
  s.norm("visual.merger.ln_q", dim, !qwen25);
  s.linear("visual.merger.mlp.0", grouped, grouped, true);
  s.linear("visual.merger.mlp.2", grouped, v.out_hidden_size, true);
  qwen2_decoder(s, "model", c);
  if (!c.tie_word_embeddings) s.linear("lm_head", c.hidden_size, c.vocab_size, false);

  ArchitectureSizes& z = out.sizes;
  z.family = c.model_type;
  z.llm = "qwen2";
  fill_decoder_sizes(z, c);
  z.vision_blocks = v.depth;
  z.vision_hidden = dim;
  z.vision_mlp = mlp;
  z.vision_heads = v.num_heads;
  z.vision_swiglu = qwen25;
  z.patch = v.patch_size;
  z.merge = v.spatial_merge_size;
  z.temporal_patch = v.temporal_patch_size;
  z.projector_in = grouped;
  return out;
}

ArchitectureShapes architecture_shapes(const InternVLConfig& c) {
  ArchitectureShapes out;
  ShapeList s(out);
  const InternVisionConfig& v = c.vision;
  // models/internvit.cpp: `vision_model.*`.
  const int64_t dim = v.hidden_size;
  const bool vision_rms = v.norm_type == "rms_norm";
  s.param("vision_model.embeddings.class_embedding", {1, 1, dim}, true);
  s.param("vision_model.embeddings.patch_embedding.weight",
          {dim, v.num_channels, v.patch_size, v.patch_size}, true);
  s.param("vision_model.embeddings.patch_embedding.bias", {dim}, true);
  s.param("vision_model.embeddings.position_embedding", {1, v.grid() * v.grid() + 1, dim}, true);
  for (int64_t i = 0; i < v.num_hidden_layers; ++i) {
    const std::string l = fmt::format("vision_model.encoder.layers.{}", i);
    s.linear(l + ".attn.qkv", dim, 3 * dim, v.qkv_bias, true);
    s.linear(l + ".attn.proj", dim, dim, true, true);
    if (v.qk_normalization) {
      s.norm(l + ".attn.q_norm", dim, false, true);
      s.norm(l + ".attn.k_norm", dim, false, true);
    }
    s.linear(l + ".mlp.fc1", dim, v.intermediate_size, true, true);
    s.linear(l + ".mlp.fc2", v.intermediate_size, dim, true, true);
    s.norm(l + ".norm1", dim, !vision_rms, true);
    s.norm(l + ".norm2", dim, !vision_rms, true);
    s.param(l + ".ls1", {dim}, true);
    s.param(l + ".ls2", {dim}, true);
  }
  const HfModelConfig& llm = c.llm;
  if (c.llm_type == "internlm2") {
    // models/internlm2_decoder.cpp: `language_model.model.*`, `language_model.output`.
    const int64_t d = llm.head_dim();
    s.param("language_model.model.tok_embeddings.weight", {llm.vocab_size, llm.hidden_size});
    for (int64_t i = 0; i < llm.num_hidden_layers; ++i) {
      const std::string l = fmt::format("language_model.model.layers.{}", i);
      s.linear(l + ".attention.wqkv", llm.hidden_size,
               (llm.num_attention_heads + 2 * llm.num_key_value_heads) * d, c.llm_bias);
      s.linear(l + ".attention.wo", llm.num_attention_heads * d, llm.hidden_size, c.llm_bias);
      s.linear(l + ".feed_forward.w1", llm.hidden_size, llm.intermediate_size, c.llm_bias);
      s.linear(l + ".feed_forward.w3", llm.hidden_size, llm.intermediate_size, c.llm_bias);
      s.linear(l + ".feed_forward.w2", llm.intermediate_size, llm.hidden_size, c.llm_bias);
      s.norm(l + ".attention_norm", llm.hidden_size, false);
      s.norm(l + ".ffn_norm", llm.hidden_size, false);
    }
    s.norm("language_model.model.norm", llm.hidden_size, false);
    s.linear("language_model.output", llm.hidden_size, llm.vocab_size, false);
  } else {
    qwen2_decoder(s, "language_model.model", llm);
    s.linear("language_model.lm_head", llm.hidden_size, llm.vocab_size, false);
  }
  // models/internvl_model.cpp: `mlp1` = LayerNorm "0", Linear "1", Linear "3".
  s.norm("mlp1.0", c.projector_in(), true);
  s.linear("mlp1.1", c.projector_in(), llm.hidden_size, true);
  s.linear("mlp1.3", llm.hidden_size, llm.hidden_size, true);

  ArchitectureSizes& z = out.sizes;
  z.family = "internvl_chat";
  z.llm = c.llm_type;
  fill_decoder_sizes(z, llm);
  z.vision_blocks = v.num_hidden_layers;
  z.vision_hidden = dim;
  z.vision_mlp = v.intermediate_size;
  z.vision_heads = v.num_attention_heads;
  z.patch = v.patch_size;
  z.merge = static_cast<int64_t>(std::llround(1.0 / c.downsample_ratio));
  z.tile = c.force_image_size;
  z.projector_in = c.projector_in();
  return out;
}

ArchitectureShapes read_architecture_shapes(const std::string& config_json) {
  if (is_internvl_config(config_json))
    return architecture_shapes(read_internvl_config(config_json));
  return architecture_shapes(read_hf_config(config_json));
}

std::vector<ParameterShape> lora_shapes(const ArchitectureShapes& shapes,
                                        const config::LoraConfig& lora) {
  auto matches = [&](const std::string& name) {
    for (const std::string& target : lora.target_modules) {
      if (name == target) return true;
      if (name.size() > target.size() + 1 &&
          name.compare(name.size() - target.size(), target.size(), target) == 0 &&
          name[name.size() - target.size() - 1] == '.')
        return true;
    }
    return false;
  };
  std::vector<ParameterShape> out;
  for (const LinearShape& linear : shapes.linears) {
    if (!matches(linear.name)) continue;
    out.push_back({linear.name + ".lora_A.weight", {lora.rank, linear.in}, linear.vision_tower});
    out.push_back({linear.name + ".lora_B.weight", {linear.out, lora.rank}, linear.vision_tower});
  }
  if (out.empty()) {
    std::string targets;
    for (const std::string& t : lora.target_modules) targets += (targets.empty() ? "" : ", ") + t;
    throw_user_error("LoRA: no linear layer matches target_modules [{}]", targets);
  }
  return out;
}

}  // namespace tokenfocus::models
