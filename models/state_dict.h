// Loading a module's parameters and buffers from named tensors, strictly: every name of the module
// must be supplied with the right shape, and nothing else may be supplied — otherwise ONE error
// lists every missing, unexpected and mis-shaped name, so a user converting a checkpoint sees all
// problems at once.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace tokenfocus::models {

// Whether module name `name` is one of `patterns`, exactly or as a suffix after a '.'
// ("q_proj" matches "model.layers.0.self_attn.q_proj"): how PEFT's target_modules and the
// allow-lists below match.
bool module_name_matches(const std::string& name, const std::vector<std::string>& patterns);

// "[4, 128]", and "Float [4, 128]" with the dtype: how errors describe a tensor.
std::string shape_text(c10::IntArrayRef sizes);
std::string tensor_text(const torch::Tensor& tensor);

struct StrictLoadOptions {
  // Module names allowed to be absent from the tensors (e.g. "lm_head.weight" when tied), matched
  // exactly or as a suffix after a '.' ("inv_freq" matches "model.rotary_emb.inv_freq").
  std::vector<std::string> allow_missing;
  // Tensor names allowed in the file without a module counterpart (same matching).
  std::vector<std::string> allow_unexpected;
  // Floating parameters take the dtype each tensor is stored in (an exported scorer whose frozen
  // weights are bf16 and trainable ones float32 loads as it was saved); otherwise the module's.
  bool keep_stored_dtypes = false;
};

// How a backbone loader stores floating weights: all in `dtype` (float32 by default; bf16 for a
// bf16 run, whose trainer then gives the trainable ones float32 master copies), or, without one, in
// the dtype each tensor is stored in (exported scorers).
struct LoadOptions {
  std::optional<torch::ScalarType> dtype = torch::kFloat;
};

// The dtype to build a module in before loading `tensors` under `options`: options.dtype, or the
// floating dtype that holds most of the tensors' elements.
torch::ScalarType build_dtype(const std::map<std::string, torch::Tensor>& tensors,
                              const LoadOptions& options);

// While alive, new floating tensors default to `dtype`, so a module built inside allocates its
// weights once, in the dtype they will be stored in (a 7 B model built in float32 and then
// converted would briefly need twice its bf16 size). The default is process-wide: build models
// before any other thread makes tensors.
class DefaultDtypeScope {
 public:
  explicit DefaultDtypeScope(torch::ScalarType dtype);
  ~DefaultDtypeScope();
  DefaultDtypeScope(const DefaultDtypeScope&) = delete;
  DefaultDtypeScope& operator=(const DefaultDtypeScope&) = delete;

 private:
  caffe2::TypeMeta previous_;
};

// Copies the tensors into the module's parameters and buffers (named as named_parameters() /
// named_buffers() name them). Floating tensors are converted to the parameter's dtype (bf16, fp16,
// fp32, fp64 in any direction); integer and bool tensors must match exactly. `source_name` names
// the checkpoint in errors. Nothing is modified unless everything matches. Mapped source tensors
// give their file pages back as they are copied (models/safetensors.h), so peak memory stays near
// the module's own size.
void load_state_dict_strict(torch::nn::Module& module,
                            const std::map<std::string, torch::Tensor>& tensors,
                            const std::string& source_name, const StrictLoadOptions& options = {});

// The tensors of a Hugging Face model folder: `model.safetensors`, or the shards listed by
// `model.safetensors.index.json` ("weight_map": tensor -> shard file). Zero-copy; UserError naming
// the folder or file when neither exists, a shard is missing, a listed tensor is absent from its
// shard, a shard holds unlisted tensors, or a tensor appears twice.
std::map<std::string, torch::Tensor> load_checkpoint_dir(const std::string& model_dir);

}  // namespace tokenfocus::models
