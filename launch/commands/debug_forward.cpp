// `tokenfocus debug forward --model DIR --case CASE.safetensors --out OUT.safetensors`: runs a
// backbone's full forward on a case file in the golden layout (input_ids, attention_mask,
// pixel_values, image_grid_thw) and writes logits, image_embeds, position_ids and rope_deltas under
// the same names — for users checking a converted checkpoint against Hugging Face. When the case
// also holds reference tensors of those names, it prints how far ours are from them.
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/ranges.h>
#include <torch/torch.h>
#include <CLI/CLI.hpp>

#include "common/error.h"
#include "common/log.h"
#include "launch/command_registry.h"
#include "models/backbone.h"
#include "models/registry.h"
#include "models/safetensors.h"

namespace tokenfocus::launch {
namespace {

torch::Tensor integer_tensor(const models::SafetensorsFile& file, const std::string& name,
                             int64_t dims) {
  const torch::Tensor tensor = file.get(name);
  if (torch::isFloatingType(tensor.scalar_type()) || tensor.scalar_type() == torch::kBool)
    throw_user_error("{}: tensor \"{}\" must hold integers, it is {}", file.path(), name,
                     c10::toString(tensor.scalar_type()));
  if (tensor.dim() != dims)
    throw_user_error("{}: tensor \"{}\" must have {} dimensions, it has {}", file.path(), name,
                     dims, tensor.dim());
  return tensor.to(torch::kInt64);
}

models::ModelInputs read_case(const models::SafetensorsFile& file) {
  models::ModelInputs inputs;
  inputs.input_ids = integer_tensor(file, "input_ids", 2);
  inputs.attention_mask = file.contains("attention_mask")
                              ? integer_tensor(file, "attention_mask", 2)
                              : torch::ones_like(inputs.input_ids);
  if (inputs.attention_mask.sizes() != inputs.input_ids.sizes())
    throw_user_error("{}: attention_mask and input_ids differ in shape", file.path());
  if (file.contains("pixel_values") != file.contains("image_grid_thw"))
    throw_user_error("{}: pixel_values and image_grid_thw go together (one is missing)",
                     file.path());
  if (file.contains("pixel_values")) {
    inputs.pixel_values = file.get("pixel_values", torch::kFloat32);
    inputs.image_grid_thw = integer_tensor(file, "image_grid_thw", 2);
  }
  return inputs;
}

CommandRun setup_debug_forward(CLI::App& command) {
  struct Options {
    std::string model_dir, case_path, out_path;
  };
  auto options = std::make_shared<Options>();
  command
      .add_option("--model", options->model_dir,
                  "Hugging Face model folder (config.json + *.safetensors)")
      ->required();
  command
      .add_option("--case", options->case_path,
                  "Inputs: input_ids, attention_mask[, pixel_values, image_grid_thw] (safetensors)")
      ->required();
  command
      .add_option("--out", options->out_path,
                  "Where to write logits, image_embeds, position_ids, rope_deltas")
      ->required();
  command.footer(
      "Runs the backbone's full forward in float32, eval mode. If the case file also holds logits, "
      "image_embeds, position_ids or rope_deltas (as the golden cases do), prints the largest "
      "absolute difference from each.");
  return [options] {
    const auto case_file = models::SafetensorsFile::open(options->case_path);
    const models::ModelInputs inputs = read_case(case_file);
    std::shared_ptr<models::Backbone> backbone = models::load_backbone(options->model_dir);
    backbone->eval();
    torch::NoGradGuard no_grad;
    const models::FullForwardOutputs outputs = backbone->forward_full(inputs);

    std::map<std::string, torch::Tensor> written{{"logits", outputs.logits},
                                                 {"position_ids", outputs.position_ids},
                                                 {"rope_deltas", outputs.rope_deltas}};
    if (outputs.image_embeds.defined()) written.emplace("image_embeds", outputs.image_embeds);
    models::save_safetensors(options->out_path, written,
                             {{"format", "pt"},
                              {"producer", "tokenfocus debug forward"},
                              {"model_type", backbone->model_type()},
                              {"case", options->case_path}});
    for (const auto& [name, tensor] : written) {
      std::string line = fmt::format("{:<13} {}", name, fmt::join(tensor.sizes(), "x"));
      if (case_file.contains(name)) {
        const torch::Tensor reference = case_file.get(name);
        if (reference.sizes() == tensor.sizes()) {
          torch::Tensor diff = (tensor.to(torch::kFloat64) - reference.to(torch::kFloat64)).abs();
          // Padded positions' logits are arbitrary (Hugging Face's too): compare real tokens only.
          if (name == "logits") diff = diff.index({inputs.attention_mask.to(torch::kBool)});
          line += fmt::format("   max |ours - case| = {:.3g}{}",
                              diff.numel() ? diff.max().item<double>() : 0.0,
                              name == "logits" ? " (unmasked positions)" : "");
        } else {
          line += fmt::format("   case holds shape {} (not compared)",
                              fmt::join(reference.sizes(), "x"));
        }
      }
      std::printf("%s\n", line.c_str());
    }
    log::info("wrote {}", options->out_path);
    return 0;
  };
}

TOKENFOCUS_COMMAND("debug forward",
                   "Run a backbone's full forward on a case file and write its outputs",
                   setup_debug_forward);

}  // namespace
}  // namespace tokenfocus::launch
