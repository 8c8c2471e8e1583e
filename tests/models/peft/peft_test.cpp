// LoRA in PEFT's layout: injection by target names, save/load round trips, merging, a PEFT folder
// written by an independent Python writer (outputs compared with numpy's computation of PEFT's
// formula), and the round trip on the tiny golden Qwen2-VL model.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "models/linear.h"
#include "models/peft.h"
#include "models/registry.h"
#include "models/safetensors.h"
#include "models/state_dict.h"
#include "tests/models/safetensors/reference_python.h"
#include "tests/support/model_case.h"

namespace tokenfocus::models {
namespace {

using tokenfocus::testing::run_reference_python;
using tokenfocus::testing::TempDir;

// Named like a Hugging Face decoder: model.layers.{0,1}.self_attn.{q,k,v,o}_proj,
// model.layers.N.mlp.up_proj.
struct AttentionImpl : torch::nn::Module {
  AttentionImpl() {
    q_proj = register_module("q_proj", Linear(8, 8, true));
    k_proj = register_module("k_proj", Linear(8, 4, true));
    v_proj = register_module("v_proj", Linear(8, 4, true));
    o_proj = register_module("o_proj", Linear(8, 8, false));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    const torch::Tensor kv = torch::cat({k_proj(x), v_proj(x)}, -1);
    return o_proj(torch::tanh(q_proj(x)) * kv);
  }
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
};
TORCH_MODULE(Attention);

struct LayerImpl : torch::nn::Module {
  LayerImpl() {
    self_attn = register_module("self_attn", Attention());
    mlp = register_module(
        "mlp", torch::nn::ModuleHolder<torch::nn::Module>(std::make_shared<torch::nn::Module>()));
    up_proj = mlp->register_module("up_proj", Linear(8, 8, false));
  }
  torch::Tensor forward(const torch::Tensor& x) { return x + up_proj(self_attn(x)); }
  Attention self_attn{nullptr};
  torch::nn::ModuleHolder<torch::nn::Module> mlp{nullptr};
  Linear up_proj{nullptr};
};
TORCH_MODULE(Layer);

struct TreeImpl : torch::nn::Module {
  TreeImpl() {
    auto model = std::make_shared<torch::nn::Module>();
    layers = model->register_module("layers", torch::nn::ModuleList(Layer(), Layer()));
    register_module("model", model);
  }
  torch::Tensor forward(torch::Tensor x) {
    for (const auto& layer : *layers) x = layer->as<LayerImpl>()->forward(x);
    return x;
  }
  torch::nn::ModuleList layers{nullptr};
};
TORCH_MODULE(Tree);

// Fresh trees with identical base weights.
Tree tree_with_seed(int seed) {
  torch::manual_seed(seed);
  return Tree();
}

void randomize_lora_b(torch::nn::Module& root, int seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : lora_state_dict(root))
    if (name.find("lora_B") != std::string::npos) tensor.copy_(torch::randn(tensor.sizes()) * 0.5);
}

config::LoraConfig attention_lora() {
  config::LoraConfig lora;
  lora.rank = 2;
  lora.alpha = 6;
  return lora;
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const UserError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Peft, ApplyLoraMatchesPeftTargetNames) {
  Tree tree = tree_with_seed(1);
  const auto adapted = apply_lora(*tree, attention_lora());
  ASSERT_EQ(adapted.size(), 8u);
  EXPECT_EQ(adapted.front(), "model.layers.0.self_attn.q_proj");
  const auto tensors = lora_state_dict(*tree);
  EXPECT_EQ(tensors.size(), 16u);
  EXPECT_EQ(tensors.at("model.layers.1.self_attn.k_proj.lora_A.weight").sizes(),
            (std::vector<int64_t>{2, 8}));
  EXPECT_EQ(tensors.at("model.layers.1.self_attn.k_proj.lora_B.weight").sizes(),
            (std::vector<int64_t>{4, 2}));

  Tree other = tree_with_seed(1);
  config::LoraConfig by_path = attention_lora();
  by_path.target_modules = {"layers.1.mlp.up_proj"};  // a longer suffix selects one layer
  EXPECT_EQ(apply_lora(*other, by_path), (std::vector<std::string>{"model.layers.1.mlp.up_proj"}));

  config::LoraConfig none = attention_lora();
  none.target_modules = {"qkv", "proj"};  // "proj" must be a whole name component
  EXPECT_EQ(error_of([&] { apply_lora(*tree_with_seed(1), none); }),
            "LoRA: no linear layer matches target_modules [qkv, proj]");
}

TEST(Peft, SavedAdapterHasPeftsLayoutAndLoadsBackIdentically) {
  TempDir dir("peft_roundtrip");
  const torch::Tensor x = torch::randn({3, 8});
  Tree trained = tree_with_seed(1);
  apply_lora(*trained, attention_lora());
  randomize_lora_b(*trained, 5);
  const torch::Tensor expected = trained->forward(x);
  save_peft_adapter(dir.path().string(), *trained, attention_lora(), "Qwen/Qwen2-VL-2B-Instruct");

  // What PEFT's loader reads: the config's fields and the exact key names.
  const std::string report = run_reference_python(R"PY(
import json, struct, sys
d = sys.argv[1]
c = json.load(open(d + "/adapter_config.json"))
print(c["peft_type"], c["task_type"], c["r"], c["lora_alpha"], type(c["lora_alpha"]).__name__, c["lora_dropout"],
      ",".join(c["target_modules"]), c["bias"], c["fan_in_fan_out"], c["base_model_name_or_path"])
b = open(d + "/adapter_model.safetensors", "rb").read()
h = json.loads(b[8:8 + struct.unpack("<Q", b[:8])[0]])
print(h.pop("__metadata__"))
for k in sorted(h): print(k, h[k]["dtype"], h[k]["shape"])
)PY",
                                                  {dir.path().string()});
  EXPECT_EQ(report.substr(0, report.find("\n", report.find("\n") + 1) + 1),
            "LORA CAUSAL_LM 2 6 int 0.0 q_proj,k_proj,v_proj,o_proj none False "
            "Qwen/Qwen2-VL-2B-Instruct\n"
            "{'format': 'pt'}\n");
  EXPECT_NE(
      report.find("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight F32 [2, 8]\n"),
      std::string::npos);
  EXPECT_NE(
      report.find("base_model.model.model.layers.1.self_attn.o_proj.lora_B.weight F32 [8, 2]\n"),
      std::string::npos);
  EXPECT_EQ(std::count(report.begin(), report.end(), '\n'), 2 + 16);

  Tree fresh = tree_with_seed(1);
  const config::LoraConfig read = load_peft_adapter(dir.path().string(), *fresh);
  EXPECT_EQ(read.rank, 2);
  EXPECT_EQ(read.alpha, 6.0);
  EXPECT_EQ(read.target_modules, attention_lora().target_modules);
  EXPECT_TRUE(torch::equal(fresh->forward(x), expected));
}

TEST(Peft, MergedWeightsGiveTheSameOutputs) {
  const torch::Tensor x = torch::randn({5, 8});
  Tree tree = tree_with_seed(2);
  config::LoraConfig lora = attention_lora();
  lora.target_modules.push_back("up_proj");
  apply_lora(*tree, lora);
  randomize_lora_b(*tree, 9);
  const torch::Tensor unmerged = tree->forward(x);
  EXPECT_EQ(merge_lora(*tree), 10);
  EXPECT_TRUE(lora_state_dict(*tree).empty());
  for (const auto& item : tree->named_parameters())
    EXPECT_EQ(item.key().find("lora_"), std::string::npos);
  const torch::Tensor merged = tree->forward(x);
  EXPECT_LT((merged - unmerged).abs().max().item<double>(), 1e-5);
  EXPECT_GT((merged - tree_with_seed(2)->forward(x)).abs().max().item<double>(),
            1e-2);  // the adapter mattered
}

// PEFT's files as Python writes them (struct + json, numpy values), and PEFT's forward formula
// y = x·Wᵀ + b + (x·Aᵀ·Bᵀ)·alpha/r computed by numpy in float64.
TEST(Peft, ReadsAnAdapterWrittenByPythonAndComputesPeftsOutputs) {
  TempDir dir("peft_python");
  const std::string folder = dir.path().string();
  run_reference_python(R"PY(
import json, struct, sys
import numpy as np
d = sys.argv[1]
rng = np.random.default_rng(0)
def write(path, tensors, meta):
    header, data = {"__metadata__": meta}, b""
    for name in sorted(tensors):
        raw = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    open(path, "wb").write(struct.pack("<Q", len(text)) + text + data)
base = {"layer.q_proj.weight": rng.standard_normal((6, 4)), "layer.q_proj.bias": rng.standard_normal(6),
        "layer.v_proj.weight": rng.standard_normal((3, 4))}
A, B = rng.standard_normal((4, 4)), rng.standard_normal((6, 4))
write(d + "/base.safetensors", base, {"format": "pt"})
write(d + "/adapter_model.safetensors", {"base_model.model.layer.q_proj.lora_A.weight": A,
                                         "base_model.model.layer.q_proj.lora_B.weight": B}, {"format": "pt"})
json.dump({"alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": "tiny", "bias": "none",
           "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True, "layer_replication": None,
           "layers_pattern": None, "layers_to_transform": None, "loftq_config": {}, "lora_alpha": 32,
           "lora_dropout": 0.05, "megatron_config": None, "megatron_core": "megatron.core", "modules_to_save": None,
           "peft_type": "LORA", "r": 4, "rank_pattern": {}, "revision": None, "target_modules": ["q_proj"],
           "task_type": "CAUSAL_LM", "use_dora": False, "use_rslora": False}, open(d + "/adapter_config.json", "w"))
x = np.linspace(-1, 1, 8).reshape(2, 4)
f = lambda t: t.astype(np.float32).astype(np.float64)
y = x @ f(base["layer.q_proj.weight"]).T + f(base["layer.q_proj.bias"]) + (x @ f(A).T @ f(B).T) * 32 / 4
np.asarray(y, dtype="<f8").tofile(d + "/expected.f64")
)PY",
                       {folder});
  struct HolderImpl : torch::nn::Module {
    HolderImpl() {
      auto layer = std::make_shared<torch::nn::Module>();
      q_proj = layer->register_module("q_proj", Linear(4, 6, true));
      v_proj = layer->register_module("v_proj", Linear(4, 3, false));
      register_module("layer", layer);
    }
    Linear q_proj{nullptr}, v_proj{nullptr};
  };
  auto holder = std::make_shared<HolderImpl>();
  load_state_dict_strict(*holder, load_safetensors(dir.file("base.safetensors")),
                         "base.safetensors");
  const config::LoraConfig lora = load_peft_adapter(folder, *holder);
  EXPECT_EQ(lora.rank, 4);
  EXPECT_DOUBLE_EQ(lora.dropout, 0.05);
  EXPECT_TRUE(holder->q_proj->has_lora());
  EXPECT_FALSE(holder->v_proj->has_lora());
  holder->eval();  // LoRA dropout off, as in PEFT's eval mode

  std::vector<double> expected(12);
  std::ifstream(dir.file("expected.f64"), std::ios::binary)
      .read(reinterpret_cast<char*>(expected.data()), expected.size() * sizeof(double));
  const torch::Tensor x =
      torch::linspace(-1, 1, 8, torch::kFloat64).reshape({2, 4}).to(torch::kFloat32);
  const torch::Tensor y = holder->q_proj->forward(x).to(torch::kFloat64);
  const torch::Tensor want = torch::from_blob(expected.data(), {2, 6}, torch::kFloat64);
  // float32 arithmetic on |y| ~ 10-60 against float64: 1e-5 relative.
  EXPECT_LT(((y - want).abs() / want.abs().clamp_min(1.0)).max().item<double>(), 1e-5);
}

TEST(Peft, MismatchedAdaptersAreOneErrorListingTheNames) {
  TempDir dir("peft_bad");
  const std::string folder = dir.path().string();
  Tree tree = tree_with_seed(1);
  apply_lora(*tree, attention_lora());
  save_peft_adapter(folder, *tree, attention_lora(), "base");

  // The adapter has rank 2 everywhere; this model has rank 2 but a different set of adapted layers.
  auto tensors = load_safetensors(dir.file("adapter_model.safetensors"));
  tensors.erase("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  tensors["base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight"] = torch::zeros({4, 3});
  tensors["base_model.model.model.layers.0.mlp.up_proj.lora_A.weight"] = torch::zeros({2, 8});
  save_safetensors(dir.file("adapter_model.safetensors"), tensors);
  const std::string path = dir.file("adapter_model.safetensors");
  EXPECT_EQ(error_of([&] { load_peft_adapter(folder, *tree_with_seed(1)); }),
            path +
                ": the adapter does not match the model\n"
                "  missing from the adapter (1):\n    "
                "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight\n"
                "  unexpected in the adapter (1):\n    "
                "base_model.model.model.layers.0.mlp.up_proj.lora_A.weight\n"
                "  mismatched (1):\n    "
                "base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight: Float [4, 3] "
                "vs model [4, 2]");

  auto write_config = [&](const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json config = {
        {"peft_type", "LORA"}, {"r", 2}, {"lora_alpha", 6}, {"target_modules", {"q_proj"}}};
    edit(config);
    std::ofstream(dir.file("adapter_config.json")) << config.dump();
    return error_of([&] { read_peft_adapter_config(folder); });
  };
  const std::string config_path = dir.file("adapter_config.json");
  EXPECT_EQ(write_config([](nlohmann::json&) {}), "no error");
  EXPECT_EQ(write_config([](nlohmann::json& c) { c["use_dora"] = true; }),
            config_path + ": \"use_dora\" = true is not supported (DoRA)");
  EXPECT_EQ(write_config([](nlohmann::json& c) { c["peft_type"] = "IA3"; }),
            config_path + ": \"peft_type\" must be \"LORA\"");
  EXPECT_NE(write_config([](nlohmann::json& c) {
              c["target_modules"] = "all-linear";
            }).find("not supported"),
            std::string::npos);
  EXPECT_EQ(write_config([](nlohmann::json& c) {
              c["rank_pattern"] = {{"q_proj", 4}};
            }),
            config_path + ": \"rank_pattern\" = {\"q_proj\":4} is not supported (per-layer ranks)");
  EXPECT_EQ(write_config([](nlohmann::json& c) { c.erase("r"); }),
            config_path + ": \"r\" must be a positive integer");
}

// The tiny golden Qwen2-VL (HF names model.layers.N.self_attn.q_proj ...): LoRA on q/k/v/o with
// random B, saved and loaded into a freshly loaded model, gives identical logits; merging gives
// the same logits within 1e-5.
TEST(Peft, GoldenQwen2VlRoundTripAndMerge) {
  const std::string model_dir = "../shared/golden/qwen2_vl";
  const SafetensorsFile case_file = SafetensorsFile::open(model_dir + "/case_1x4x4.safetensors");
  ModelInputs inputs;
  inputs.input_ids = case_file.get("input_ids");
  inputs.attention_mask = case_file.get("attention_mask");
  inputs.pixel_values = case_file.get("pixel_values");
  inputs.image_grid_thw = case_file.get("image_grid_thw");
  torch::NoGradGuard no_grad;

  std::shared_ptr<Backbone> trained = load_backbone(model_dir);
  const torch::Tensor base_logits = trained->forward_full(inputs).logits;
  // LoRA A is drawn from the global generator, which Debian's libtorch 1.13 seeded randomly:
  // without a seed the merge error below changed from process to process (4e-6 to 7e-6).
  torch::manual_seed(3);
  const auto adapted = apply_lora(*trained, config::LoraConfig{});  // default targets: q/k/v/o_proj
  EXPECT_EQ(adapted.size(),
            8u);  // 2 decoder layers × 4 (the vision tower names its layers qkv/proj)
  for (const auto& name : adapted) EXPECT_EQ(name.rfind("model.layers.", 0), 0u) << name;
  randomize_lora_b(*trained, 11);
  const torch::Tensor logits = trained->forward_full(inputs).logits;
  EXPECT_GT((logits - base_logits).abs().max().item<double>(), 1e-2);

  TempDir dir("peft_qwen");
  save_peft_adapter(dir.path().string(), *trained, config::LoraConfig{}, model_dir);
  std::shared_ptr<Backbone> fresh = load_backbone(model_dir);
  load_peft_adapter(dir.path().string(), *fresh);
  EXPECT_TRUE(torch::equal(fresh->forward_full(inputs).logits, logits));

  EXPECT_EQ(merge_lora(*fresh), 8);
  const double merged_error =
      (fresh->forward_full(inputs).logits - logits).abs().max().item<double>();
  EXPECT_LT(merged_error, 1e-5);
  std::printf("[ figures  ] qwen2_vl merged vs unmerged logits: max |diff| = %.3g\n", merged_error);
}

// PEFT both ways, against Python peft on the Hugging Face model (tests/models/peft/
// peft_reference.py): an adapter that we save loads with PeftModel.from_pretrained and gives our
// merged model's logits, and one that peft saved loads here and gives PEFT's logits. Tolerance
// 1e-4 on logits of |max| ~5, as the golden parity suite (fp32, different summation orders).
constexpr double kPeftLogitsTolerance = 1e-4;
const char* const kGoldenQwen2Vl = "../shared/golden/qwen2_vl";

ModelInputs golden_case_inputs(const std::string& case_path) {
  return testing::case_inputs(load_safetensors(case_path));
}

torch::Tensor peft_reference_logits(const std::string& mode, const std::string& case_path,
                                    const std::string& adapter_dir, const TempDir& scratch) {
  const std::string out = scratch.file(mode + "_logits.safetensors");
  const std::string command = fmt::format(
      "{} {}/tests/models/peft/peft_reference.py {} {} {} {} {} 2>&1", TOKENFOCUS_REFERENCE_PYTHON,
      TOKENFOCUS_SOURCE_DIR, mode, kGoldenQwen2Vl, case_path, adapter_dir, out);
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  return load_safetensors(out).at("logits");
}

double real_token_error(const torch::Tensor& ours, const torch::Tensor& theirs,
                        const ModelInputs& inputs) {
  const torch::Tensor real = inputs.attention_mask == 1;
  return (ours.index({real}).to(torch::kDouble) - theirs.index({real}).to(torch::kDouble))
      .abs()
      .max()
      .item<double>();
}

TEST(PeftBothWays, OurAdapterLoadsInPeftWithOurMergedLogits) {
  const std::string case_path = std::string(kGoldenQwen2Vl) + "/case_batch2_leftpad.safetensors";
  const ModelInputs inputs = golden_case_inputs(case_path);
  torch::NoGradGuard no_grad;
  std::shared_ptr<Backbone> model = load_backbone(kGoldenQwen2Vl);
  config::LoraConfig lora;
  lora.rank = 4;
  lora.alpha = 8;
  torch::manual_seed(5);
  apply_lora(*model, lora);
  randomize_lora_b(*model, 13);
  TempDir dir("peft_ours");
  save_peft_adapter(dir.file("adapter"), *model, lora, kGoldenQwen2Vl);
  merge_lora(*model);  // what train exports and predict uses
  const torch::Tensor ours = model->forward_full(inputs).logits;
  const torch::Tensor theirs = peft_reference_logits("load", case_path, dir.file("adapter"), dir);
  const double error = real_token_error(ours, theirs, inputs);
  std::printf("[ figures  ] our adapter in PEFT: max |logits - ours merged| = %.3g\n", error);
  EXPECT_LE(error, kPeftLogitsTolerance);
}

TEST(PeftBothWays, AdapterSavedByPeftLoadsHereWithPeftsLogits) {
  const std::string case_path = std::string(kGoldenQwen2Vl) + "/case_batch2_leftpad.safetensors";
  const ModelInputs inputs = golden_case_inputs(case_path);
  TempDir dir("peft_theirs");
  const torch::Tensor theirs = peft_reference_logits("make", case_path, dir.file("adapter"), dir);
  torch::NoGradGuard no_grad;
  std::shared_ptr<Backbone> model = load_backbone(kGoldenQwen2Vl);
  const config::LoraConfig lora = load_peft_adapter(dir.file("adapter"), *model);
  EXPECT_EQ(lora.rank, 4);
  model->eval();
  const torch::Tensor ours = model->forward_full(inputs).logits;
  const double error = real_token_error(ours, theirs, inputs);
  std::printf("[ figures  ] PEFT's adapter here: max |logits - PEFT| = %.3g\n", error);
  EXPECT_LE(error, kPeftLogitsTolerance);
  // The adapter matters: without it the logits are far from PEFT's.
  std::shared_ptr<Backbone> base = load_backbone(kGoldenQwen2Vl);
  EXPECT_GT(real_token_error(base->forward_full(inputs).logits, theirs, inputs), 1e-2);
}

}  // namespace
}  // namespace tokenfocus::models
