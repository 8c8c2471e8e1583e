#include "scoring/scorer.h"

#include "common/error.h"
#include "data/chat_template.h"

namespace tokenfocus::scoring {

torch::Device choose_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  const bool gpu = torch::cuda::is_available();
  if (name == "cuda" && !gpu)
    throw_user_error("--device cuda: no CUDA device is visible (or this build has no CUDA)");
  if (name != "auto" && name != "cuda")
    throw_user_error("unknown device '{}' (known: auto, cuda, cpu)", name);
  return gpu ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
}

Scorer::Scorer(const std::string& folder, torch::Device device, const ScorerOptions& layout)
    : path_(folder), folder_(load_scorer_folder(folder)) {
  if (!device.is_cpu()) folder_.model->to(device);
  folder_.model->eval();
  overall_ = folder_.overall.to(device);
  element_ = folder_.element.to(device);
  readout_.temperature = folder_.config.temperature;
  readout_.sum_case_variants = folder_.config.prompt.sum_case_variants;
  auto options = data::BatchBuilderOptions::for_prompt(
      folder_.config.prompt, data::chat_template_for_model_type(folder_.model->model_type()));
  options.packing.enabled = layout.packing;
  readout_.forward_tokens = layout.forward_tokens;
  builder_ =
      std::make_unique<data::BatchBuilder>(no_records_, *folder_.processor, folder_.tokenizer,
                                           folder_.overall_labels, folder_.element_labels, options);
}

data::PreparedSample Scorer::prepare(const data::Record& record,
                                     const data::RgbImage& image) const {
  return builder_->prepare(record, -1, image);
}

std::vector<SampleScores> Scorer::score(std::vector<data::PreparedSample> samples) {
  if (samples.empty()) return {};
  const data::Batch batch = builder_->collate(std::move(samples));
  return score_batch(*folder_.model, batch, overall_, element_, readout_);
}

}  // namespace tokenfocus::scoring
