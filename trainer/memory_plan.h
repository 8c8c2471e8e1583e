// What one rank of `tokenfocus train` holds, in bytes, before anything is allocated: the memory
// plan of `tokenfocus plan` (docs/memory.md). Two phases, each a planner over the architecture's
// shapes (models/parameter_count.h) and the run config, then a printer:
//   - static state: weights by dtype (optim.precision bf16 stores frozen weights in bfloat16,
//     trainable ones in float32), LoRA factors, float32 gradients (views of the reducer's buckets),
//     AdamW's exp_avg + exp_avg_sq (8 bytes per trainable parameter; 1/N of it per rank under
//     ZeRO-1, rounded up per bucket);
//   - activations of the largest forward: what autograd keeps per decoder layer and token (all of
//     a layer's saved tensors, or only its input under gradient checkpointing plus one layer
//     recomputed in backward), the [B,1,S,S] packed-row mask, rotary tables, the focus logits, the
//     vision tower's working set, and bf16 autocast's cached weight copies when weights train.
// The sequence is one packed row per sample: the chat template's text, the image's tokens at the
// backbone's largest image (max_pixels, or max_tiles + thumbnail), the overall question's branch
// and one branch per element; the text lengths are assumptions the caller can override.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config/run_config.h"
#include "models/parameter_count.h"

namespace tokenfocus::trainer {

// Text lengths of a packed row (tokens). Defaults: what the NTIRE prompts give with Qwen's chat
// template (bench/trainer/packing_bench.cpp uses the same figures).
struct SequenceAssumptions {
  int64_t template_tokens = 30;  // system turn, role markers, vision start/end, shared words
  int64_t overall_tokens = 40;   // the overall question's own tokens (its prompt included)
  int64_t element_tokens = 20;   // one element question's own tokens
  int64_t elements = 6;          // element questions per sample (prompt.element_questions)
  int64_t row_tokens = 0;        // > 0: the longest row, measured; replaces the sum above
};

struct PlanOptions {
  int64_t world_size = 1;
  bool cuda = true;             // CPU: dropout keeps float32 noise instead of a byte mask
  int64_t runtime_reserve = 0;  // CUDA context, cuBLAS / NCCL workspaces (bytes)
  SequenceAssumptions sequence;
};

struct ParameterCounts {
  int64_t total = 0;      // the backbone's own parameters (LoRA factors not included)
  int64_t trainable = 0;  // of those
  int64_t lora = 0;       // LoRA factors (trainable unless they sit in a frozen vision tower)
  int64_t lora_trainable = 0;
  int64_t lora_layers = 0;
};

struct SequenceShape {
  int64_t image_tokens = 0;   // decoder tokens of one sample's image
  int64_t vision_tokens = 0;  // tokens through the vision tower per sample (patches / tile tokens)
  int64_t row_tokens = 0;     // longest packed row S
  int64_t rows = 0;           // rows of one forward (micro-batch, or forward_tokens' share)
  int64_t micro_rows = 0;     // rows of a micro-batch (all kept until its backward)
  int64_t questions = 0;      // query positions of one forward
  int64_t samples = 0;        // samples (images) of one forward
  int64_t micro_samples = 0;  // samples of a micro-batch
  int64_t questions_per_sample = 0;
  int64_t pixel_values = 0;  // floats of the vision input per sample
};

// One line of the breakdown; `bytes` adds up to the total.
struct PlanTerm {
  std::string name, detail;
  int64_t bytes = 0;
};

struct BackbonePlan {
  std::string backbone, architecture_source, family, finetune, precision;
  bool checkpointing = false;
  ParameterCounts counts;
  SequenceShape sequence;
  int64_t world_size = 1;
  // Static state.
  int64_t weights_bf16 = 0, weights_fp32 = 0;  // the backbone's own weights, by dtype
  int64_t lora_weights = 0;                    // float32 factors
  int64_t gradients = 0;
  int64_t optimizer = 0, optimizer_zero1 = 0;  // AdamW state per rank: DDP / ZeRO-1
  int64_t zero1_gradient_shard = 0;            // the reduce-scattered shard ZeRO-1 adds
  // Activations (the largest forward and its backward).
  std::vector<PlanTerm> activation_terms;
  int64_t activations = 0;
  int64_t runtime_reserve = 0;
  // Host memory while loading: the model as built in its load dtype plus one copied slice.
  int64_t load_host = 0, checkpoint_bytes = 0, load_dtype_bytes = 4;

  int64_t static_bytes(bool zero1) const;
  int64_t total(bool zero1) const;  // static + activations + runtime reserve
};

// The plan of backbone `b` of `run`, whose parameters are `shapes` (read from
// `architecture_source`, named in the printout). `checkpoint_bytes` = the size of its weight files
// (0: not on this machine; assumed bf16 then, as Hugging Face ships the 7-8 B checkpoints).
BackbonePlan plan_backbone(const config::RunConfig& run, const config::BackboneConfig& b,
                           const models::ArchitectureShapes& shapes,
                           const std::string& architecture_source, int64_t checkpoint_bytes,
                           const PlanOptions& options);

// The breakdown as `tokenfocus plan` prints it, with a verdict against `device_bytes` per rank.
std::string format_plan(const BackbonePlan& plan, int64_t device_bytes);

// "80GiB", "80 GB", "81920MiB", "1.5TiB", "123456" (bytes) → bytes; UserError naming `what`
// (e.g. "--gpu-memory") for anything else.
int64_t parse_byte_size(const std::string& text, const std::string& what);
// 1234567890 → "1.15 GiB" (MiB below 1 GiB).
std::string format_bytes(int64_t bytes);

}  // namespace tokenfocus::trainer
