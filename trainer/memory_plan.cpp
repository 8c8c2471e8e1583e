#include "trainer/memory_plan.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "common/error.h"

namespace tokenfocus::trainer {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;
constexpr int64_t kMiB = int64_t{1} << 20;

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

// Which parameters train, as trainer/fold_runner.cpp's configure_finetuning decides it: all (full),
// the LoRA factors (lora) or names under "lm_head." (head); then freeze_vision freezes the tower.
bool base_trains(const config::BackboneConfig& b, const models::ParameterShape& p) {
  if (b.freeze_vision && p.vision_tower) return false;
  if (b.finetune == "full") return true;
  if (b.finetune == "head") return starts_with(p.name, "lm_head.");
  return false;
}

// The linear layers of decoder layer 0 by role, with whether LoRA adapts them: every layer is the
// same, so layer 0 stands for all.
struct LayerLinears {
  std::vector<std::string> attention_in, attention_out, mlp_in, mlp_out;  // roles
  std::set<std::string> adapted;                                          // roles with LoRA
};

LayerLinears layer_linears(const models::ArchitectureSizes& z,
                           const std::vector<models::ParameterShape>& lora) {
  LayerLinears l;
  std::string prefix;
  if (z.llm == "internlm2") {
    l = {{"attention.wqkv"},
         {"attention.wo"},
         {"feed_forward.w1", "feed_forward.w3"},
         {"feed_forward.w2"},
         {}};
    prefix = "language_model.model.layers.0.";
  } else {
    l = {{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"},
         {"self_attn.o_proj"},
         {"mlp.gate_proj", "mlp.up_proj"},
         {"mlp.down_proj"},
         {}};
    prefix = z.family == "internvl_chat" ? "language_model.model.layers.0." : "model.layers.0.";
  }
  for (const auto& p : lora)
    if (starts_with(p.name, prefix))
      l.adapted.insert(p.name.substr(prefix.size(), p.name.find(".lora_") - prefix.size()));
  return l;
}

// Bytes per token of one decoder layer's saved tensors, split into what every position keeps and
// what only the query positions keep in the last layer (hidden_at runs its queries, MLP and norm
// only there).
struct LayerCost {
  double per_token = 0;  // every layer
  double kv_part = 0;    // of per_token: what the last layer keeps at every position
  double per_query = 0;  // the rest, per query, in the last layer
};

struct ActivationContext {
  const models::ArchitectureSizes& z;
  bool bf16, full, cuda;
  double dropout;
  int64_t rank;
  double a;  // bytes of a matmul output (bf16 under autocast)
};

// What the linear layers of `roles`, which all read one input of width `in`, keep of it for their
// weight gradients. A trainable base weight keeps its input (under bf16 autocast each layer its own
// bf16 copy when the input is float32, as a norm's output with a float32 weight is). A LoRA factor
// keeps its own input: the layer's input itself in float32 without dropout; else the dropped copy
// (float32) and the dropout mask (a byte on CUDA, float32 noise on CPU: ATen's CPU dropout is
// input * noise), and under autocast the bf16 copy the first factor's matmul reads.
double group_input(const ActivationContext& c, const LayerLinears& l,
                   const std::vector<std::string>& roles, int64_t in, bool after_norm) {
  const double w = static_cast<double>(in);
  if (c.full) {
    if (c.bf16 && after_norm) return static_cast<double>(roles.size()) * w * 2;
    return w * c.a;
  }
  double bytes = 0;
  bool shared = false;
  const double mask = c.cuda ? 1.0 : 4.0;
  for (const auto& role : roles) {
    if (!l.adapted.count(role)) continue;
    if (!c.bf16) {
      if (c.dropout > 0)
        bytes += w * 4 + w * mask;
      else
        shared = true;
    } else {
      bytes += w * 2 + (c.dropout > 0 ? w * mask : 0.0);
    }
  }
  return bytes + (shared ? w * c.a : 0.0);
}

LayerCost decoder_layer_cost(const ActivationContext& c, const LayerLinears& l) {
  const auto& z = c.z;
  const double H = static_cast<double>(z.hidden), I = static_cast<double>(z.intermediate);
  const double kv = static_cast<double>(z.kv_heads * z.head_dim);
  const double heads = static_cast<double>(z.heads);
  // RMSNorm: its float32 input (x.to(float), x itself in fp32) and rsqrt; normed when the weight
  // trains (weight * normed).
  const double norm = 4 * H + 4 + (c.full ? 4 * H : 0.0);
  LayerCost cost;
  cost.kv_part = norm + group_input(c, l, l.attention_in, z.hidden, true) + 2 * kv * c.a;
  // Rotated q; SDPA's output and float32 logsumexp (the fused kernels keep no S×S matrix); the
  // [S, heads·d] copy o_proj reads; the MLP's gate (silu's input), silu(gate) and up.
  cost.per_query = H * c.a + H * c.a + heads * 4 +
                   group_input(c, l, l.attention_out, z.hidden, false) + norm +
                   group_input(c, l, l.mlp_in, z.hidden, true) + 3 * I * c.a +
                   group_input(c, l, l.mlp_out, z.intermediate, false) +
                   static_cast<double>(l.adapted.size() * c.rank) * c.a;  // LoRA A outputs
  cost.per_token = cost.kv_part + cost.per_query;
  return cost;
}

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// Per-rank ZeRO-1 shard of n float32 elements laid out in buckets of bucket_mb: each bucket padded
// to a multiple of the world size.
int64_t zero1_shard_elements(int64_t n, double bucket_mb, int64_t world) {
  const int64_t per_bucket = std::max<int64_t>(1, static_cast<int64_t>(bucket_mb * kMiB / 4));
  const int64_t full = n / per_bucket, rest = n % per_bucket;
  return full * ceil_div(per_bucket, world) + ceil_div(rest, world);
}

SequenceShape sequence_shape(const config::RunConfig& run, const config::BackboneConfig& b,
                             const models::ArchitectureSizes& z, const SequenceAssumptions& s) {
  SequenceShape q;
  if (z.family == "internvl_chat") {
    // Dynamic tiling at its largest: max_tiles tiles plus the thumbnail.
    const int64_t tiles = b.image.max_tiles + (b.image.use_thumbnail && b.image.max_tiles > 1);
    const int64_t grid = z.tile / z.patch;
    q.image_tokens = tiles * grid * grid / (z.merge * z.merge);
    q.vision_tokens = tiles * (grid * grid + 1);  // + the class token
    q.pixel_values = tiles * 3 * z.tile * z.tile;
  } else {
    // smart_resize keeps h·w ≤ max_pixels in units of (patch·merge)² pixels.
    const int64_t unit = z.patch * z.merge;
    q.image_tokens = std::max<int64_t>(1, b.image.max_pixels / (unit * unit));
    q.vision_tokens = q.image_tokens * z.merge * z.merge;
    q.pixel_values = q.vision_tokens * 3 * z.temporal_patch * z.patch * z.patch;
  }
  const int64_t elements = run.prompt.element_questions ? s.elements : 0;
  const int64_t per_sample = 1 + elements;
  const int64_t prefix = s.template_tokens + q.image_tokens;
  int64_t rows_per_sample = 1;
  if (s.row_tokens > 0) {
    q.row_tokens = s.row_tokens;
  } else if (run.prompt.packing) {
    q.row_tokens = prefix + s.overall_tokens + elements * s.element_tokens;
  } else {
    q.row_tokens = prefix + std::max(s.overall_tokens, s.element_tokens);
  }
  if (!run.prompt.packing) rows_per_sample = per_sample;
  q.micro_rows = run.optim.micro_batch_size * rows_per_sample;
  // optim.forward_tokens: forwards of whole samples within the token budget.
  int64_t samples = run.optim.micro_batch_size;
  if (run.optim.forward_tokens > 0)
    samples = std::clamp<int64_t>(run.optim.forward_tokens / (q.row_tokens * rows_per_sample), 1,
                                  samples);
  q.rows = samples * rows_per_sample;
  q.questions = samples * per_sample;
  q.samples = samples;
  q.micro_samples = run.optim.micro_batch_size;
  q.questions_per_sample = per_sample;
  return q;
}

void add_term(BackbonePlan& plan, std::string name, double bytes, std::string detail) {
  plan.activation_terms.push_back(
      {std::move(name), std::move(detail), static_cast<int64_t>(bytes)});
}

}  // namespace

int64_t BackbonePlan::static_bytes(bool zero1) const {
  return weights_bf16 + weights_fp32 + lora_weights + gradients +
         (zero1 ? optimizer_zero1 + zero1_gradient_shard : optimizer);
}

int64_t BackbonePlan::total(bool zero1) const {
  return static_bytes(zero1) + activations + runtime_reserve;
}

BackbonePlan plan_backbone(const config::RunConfig& run, const config::BackboneConfig& b,
                           const models::ArchitectureShapes& shapes,
                           const std::string& architecture_source, int64_t checkpoint_bytes,
                           const PlanOptions& options) {
  const models::ArchitectureSizes& z = shapes.sizes;
  BackbonePlan plan;
  plan.backbone = b.name;
  plan.architecture_source = architecture_source;
  plan.family = z.family;
  plan.finetune = b.finetune;
  plan.precision = run.optim.precision;
  plan.checkpointing = b.gradient_checkpointing;
  plan.world_size = options.world_size;
  plan.runtime_reserve = options.runtime_reserve;
  const bool bf16 = run.optim.precision == "bf16";

  // Static state.
  int64_t frozen = 0;
  for (const auto& p : shapes.parameters) {
    plan.counts.total += p.numel();
    if (base_trains(b, p))
      plan.counts.trainable += p.numel();
    else
      frozen += p.numel();
  }
  std::vector<models::ParameterShape> lora;
  if (b.finetune == "lora") lora = models::lora_shapes(shapes, b.lora);
  for (const auto& p : lora) {
    plan.counts.lora += p.numel();
    if (!(b.freeze_vision && p.vision_tower)) plan.counts.lora_trainable += p.numel();
  }
  plan.counts.lora_layers = static_cast<int64_t>(lora.size() / 2);
  plan.weights_bf16 = bf16 ? frozen * 2 : 0;
  plan.weights_fp32 = (bf16 ? 0 : frozen * 4) + plan.counts.trainable * 4;
  plan.lora_weights = plan.counts.lora * 4;
  const int64_t trained = plan.counts.trainable + plan.counts.lora_trainable;
  plan.gradients = trained * 4;
  plan.optimizer = trained * 8;
  const int64_t shard =
      zero1_shard_elements(trained, run.distributed.bucket_mb, options.world_size);
  plan.optimizer_zero1 = shard * 8;
  plan.zero1_gradient_shard = options.world_size > 1 ? shard * 4 : 0;
  plan.checkpoint_bytes = checkpoint_bytes > 0 ? checkpoint_bytes : plan.counts.total * 2;
  // load_backbone allocates the model once in its load dtype (bf16 only for LoRA under bf16:
  // trainer/precision.h) and copies the mmapped checkpoint into it in 16 MiB slices whose file
  // pages it releases at once (models/state_dict.h): the model plus one slice.
  plan.load_dtype_bytes = bf16 && b.finetune == "lora" ? 2 : 4;
  plan.load_host = plan.counts.total * plan.load_dtype_bytes + (int64_t{16} << 20);

  // Activations.
  const SequenceShape s = sequence_shape(run, b, z, options.sequence);
  plan.sequence = s;
  const bool full = b.finetune == "full";
  const LayerLinears linears = layer_linears(z, lora);
  const ActivationContext c{
      z, bf16, full, options.cuda, b.lora.dropout, b.lora.rank, bf16 ? 2.0 : 4.0};
  const bool decoder_trains = full || !linears.adapted.empty();
  const bool embedding_trains = full;
  const double r = bf16 && !embedding_trains ? 2.0 : 4.0;  // residual stream's element bytes
  const double S = static_cast<double>(s.row_tokens);
  const double t_micro = static_cast<double>(s.micro_rows) * S;
  const double t_fwd = static_cast<double>(s.rows) * S;
  const double q_micro = static_cast<double>(s.micro_samples * s.questions_per_sample);
  const double L = static_cast<double>(z.layers);
  const double H = static_cast<double>(z.hidden), I = static_cast<double>(z.intermediate);
  const LayerCost layer = decoder_layer_cost(c, linears);
  const double one_layer_fwd = layer.per_token * t_fwd;

  double kept_layers = 0, recompute = 0;
  if (decoder_trains) {
    if (b.gradient_checkpointing) {
      kept_layers = L * H * r * t_micro;  // each block's input, saved by its checkpoint node
      recompute = one_layer_fwd;
    } else {
      kept_layers =
          (L - 1) * layer.per_token * t_micro + layer.kv_part * t_micro + layer.per_query * q_micro;
    }
  }
  // Per forward, kept for the whole micro-batch: the [B,1,S,S] additive mask of packed rows,
  // M-RoPE cos/sin [B,S,d] and the int64 position ids [3,B,S].
  const double rows_micro = static_cast<double>(s.micro_rows);
  const double shared = rows_micro * S * S * r +
                        2 * rows_micro * S * static_cast<double>(z.head_dim) * r +
                        3 * rows_micro * S * 8;
  // Focus logits over the whole vocabulary at each query (TF term): logits, log-softmax, grad.
  const double logits = 3 * q_micro * static_cast<double>(z.vocab) * 4;
  // Backward's own tensors for one layer: gradients of the residual stream and the MLP's inner
  // width.
  const double working = (3 * H * 4 + 2 * I * c.a) * t_fwd;
  // bf16 autocast caches a bf16 copy of every trainable float32 weight it casts for the forward.
  const double casts = bf16 && full ? static_cast<double>(plan.counts.trainable) * 2 : 0.0;

  // The vision tower: the images of one forward.
  const double P = static_cast<double>(s.vision_tokens * s.samples);
  const double D = static_cast<double>(z.vision_hidden),
               M = static_cast<double>(z.vision_mlp) * (z.vision_swiglu ? 3 : 2);
  const bool vision_trains = full && !b.freeze_vision;
  const double pixels = static_cast<double>(s.pixel_values * s.samples) * 4;
  // One block's working set in a forward: input, norm, qkv, rotated q/k, attention output,
  // projection and the MLP's hidden activations.
  const double vision_block = P * (9 * D + M) * c.a;
  const double merged = P / static_cast<double>(z.merge * z.merge);
  const double G = static_cast<double>(z.projector_in);
  double vision_kept = 0;
  if (vision_trains) {
    const double blocks = static_cast<double>(z.vision_blocks);
    vision_kept = b.gradient_checkpointing ? blocks * P * D * 4 + vision_block
                                           : blocks * P * (10 * D + M) * c.a;
  }
  // The projector trains in full fine-tuning: its norm's input and output, two hidden widths.
  if (full) vision_kept += P * D * (4 + c.a) + merged * G * c.a * 2;
  const double vision_peak = pixels + (vision_trains ? vision_kept : vision_block + vision_kept);

  // The peak is the end of the forward or the start of backward, whichever is larger; the tower's
  // working set while it runs comes before the decoder's.
  const double kept = kept_layers + shared + 2 * logits / 3 + vision_kept + pixels;
  const double backward =
      kept + recompute + working + logits / 3 + (b.gradient_checkpointing ? 0 : casts);
  const double forward_end = kept + casts;
  const double during_vision = vision_peak + casts;
  const double peak = std::max({backward, forward_end, during_vision});
  const std::string rows_text = fmt::format("{} rows × {} tokens", s.micro_rows, s.row_tokens);
  if (peak == during_vision) {
    add_term(plan, "vision tower", vision_peak,
             fmt::format("{} tokens through {} blocks", static_cast<int64_t>(P), z.vision_blocks));
    if (casts > 0) add_term(plan, "autocast bf16 weight copies", casts, "");
  } else {
    add_term(
        plan, b.gradient_checkpointing ? "decoder layer inputs" : "decoder layers", kept_layers,
        b.gradient_checkpointing ? fmt::format("{} layers × {}, checkpointed", z.layers, rows_text)
                                 : fmt::format("{} layers × {} ({:.0f} KiB per token per layer)",
                                               z.layers, rows_text, layer.per_token / 1024));
    add_term(plan, "packed-row mask, rotary", shared, "[B,1,S,S] mask, cos/sin, position ids");
    add_term(plan, "focus logits", peak == backward ? logits : 2 * logits / 3,
             fmt::format("{} queries × {} vocabulary", static_cast<int64_t>(q_micro), z.vocab));
    add_term(plan, "vision tower kept", vision_kept + pixels, "pixel values, trainable parts");
    if (peak == backward) {
      if (recompute > 0)
        add_term(plan, "one layer recomputed", recompute,
                 fmt::format("{} rows in backward", s.rows));
      add_term(plan, "backward working set", working, "gradients of one layer's tensors");
      if (!b.gradient_checkpointing && casts > 0)
        add_term(plan, "autocast bf16 weight copies", casts, "");
    } else if (casts > 0) {
      add_term(plan, "autocast bf16 weight copies", casts, "");
    }
  }
  plan.activations = 0;
  for (const auto& t : plan.activation_terms) plan.activations += t.bytes;
  return plan;
}

std::string format_bytes(int64_t bytes) {
  if (std::llabs(bytes) >= kGiB)
    return fmt::format("{:.2f} GiB", static_cast<double>(bytes) / kGiB);
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / kMiB);
}

namespace {

std::string count_text(int64_t n) {
  if (n >= 1000000000) return fmt::format("{:.2f} B", n / 1e9);
  if (n >= 1000000) return fmt::format("{:.1f} M", n / 1e6);
  if (n >= 1000) return fmt::format("{:.1f} k", n / 1e3);
  return fmt::format("{}", n);
}

std::string verdict(int64_t total, int64_t device) {
  if (device <= 0) return "";
  const int64_t left = device - total;
  return left >= 0 ? fmt::format("fits ({} free)", format_bytes(left))
                   : fmt::format("does NOT fit ({} over)", format_bytes(-left));
}

}  // namespace

std::string format_plan(const BackbonePlan& p, int64_t device_bytes) {
  std::string out;
  auto line = [&](const std::string& text) { out += text + "\n"; };
  auto row = [&](const std::string& name, int64_t bytes, const std::string& detail) {
    line(fmt::format("    {:<28} {:>11}  {}", name, format_bytes(bytes), detail));
  };
  line(fmt::format("{} ({}, architecture from {})", p.backbone, p.family, p.architecture_source));
  std::string lora;
  if (p.counts.lora > 0)
    lora = fmt::format("; LoRA {} on {} layers ({} trainable)", count_text(p.counts.lora),
                       p.counts.lora_layers, count_text(p.counts.lora_trainable));
  line(fmt::format("  parameters: {} ({} trainable, finetune {}){}", count_text(p.counts.total),
                   count_text(p.counts.trainable), p.finetune, lora));
  const SequenceShape& s = p.sequence;
  line(
      fmt::format("  forward: {} rows × {} tokens ({} image tokens each), {} questions; vision "
                  "tower {} tokens per sample",
                  s.rows, s.row_tokens, s.image_tokens, s.questions, s.vision_tokens));
  line(fmt::format("  per rank (world size {}, {}, gradient checkpointing {}):", p.world_size,
                   p.precision, p.checkpointing ? "on" : "off"));
  const int64_t frozen = p.counts.total - p.counts.trainable;
  if (p.weights_bf16 > 0)
    row("weights bf16", p.weights_bf16, fmt::format("{} frozen", count_text(frozen)));
  row("weights fp32", p.weights_fp32,
      p.weights_bf16 > 0 ? fmt::format("{} trainable", count_text(p.counts.trainable))
                         : fmt::format("{} parameters", count_text(p.counts.total)));
  if (p.counts.lora > 0)
    row("LoRA factors fp32", p.lora_weights, fmt::format("r on {} layers", p.counts.lora_layers));
  row("gradients fp32", p.gradients, "trainable parameters, in the reducer's buckets");
  row("AdamW state fp32 (DDP)", p.optimizer, "exp_avg + exp_avg_sq");
  row("AdamW state fp32 (ZeRO-1)", p.optimizer_zero1 + p.zero1_gradient_shard,
      fmt::format("1/{} per rank, + its gradient shard", p.world_size));
  row("activations", p.activations, "peak of one micro-batch:");
  for (const auto& t : p.activation_terms)
    line(fmt::format("      {:<26} {:>11}  {}", t.name, format_bytes(t.bytes), t.detail));
  if (p.runtime_reserve > 0)
    row("runtime reserve", p.runtime_reserve, "CUDA context, cuBLAS and NCCL workspaces");
  const std::string of =
      device_bytes > 0 ? fmt::format(" of {}", format_bytes(device_bytes)) : std::string();
  row("total without ZeRO-1", p.total(false),
      of.empty() ? "" : of.substr(1) + ": " + verdict(p.total(false), device_bytes));
  row("total with ZeRO-1", p.total(true),
      of.empty() ? "" : of.substr(1) + ": " + verdict(p.total(true), device_bytes));
  line(
      fmt::format("  host memory per rank while loading: {} (the model in {}; the checkpoint's "
                  "{} are mapped and released as they are copied)",
                  format_bytes(p.load_host), p.load_dtype_bytes == 2 ? "bf16" : "float32",
                  format_bytes(p.checkpoint_bytes)));
  return out;
}

int64_t parse_byte_size(const std::string& text, const std::string& what) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  const std::string number = text.substr(0, i);
  std::string unit = text.substr(i);
  unit.erase(std::remove(unit.begin(), unit.end(), ' '), unit.end());
  std::string lower;
  for (char ch : unit) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  static const std::vector<std::pair<std::string, double>> units = {{"", 1},
                                                                    {"b", 1},
                                                                    {"kib", 1024.0},
                                                                    {"mib", 1048576.0},
                                                                    {"gib", 1073741824.0},
                                                                    {"tib", 1099511627776.0},
                                                                    {"kb", 1e3},
                                                                    {"mb", 1e6},
                                                                    {"gb", 1e9},
                                                                    {"tb", 1e12}};
  double scale = 0;
  for (const auto& [name, factor] : units)
    if (lower == name) scale = factor;
  double value = 0;
  bool ok = !number.empty() && scale > 0 && std::count(number.begin(), number.end(), '.') <= 1;
  if (ok) {
    try {
      value = std::stod(number);
    } catch (const std::exception&) {
      ok = false;
    }
  }
  if (!ok || value <= 0)
    throw_user_error("{} '{}': not a memory size (e.g. 80GiB, 80GB, 81920MiB)", what, text);
  return static_cast<int64_t>(std::llround(value * scale));
}

}  // namespace tokenfocus::trainer
