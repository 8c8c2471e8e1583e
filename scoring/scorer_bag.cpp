#include "scoring/scorer_bag.h"

#include <filesystem>

#include "common/error.h"

namespace tokenfocus::scoring {

ScorerBag::ScorerBag(const std::vector<std::string>& folders, torch::Device device,
                     const ScorerOptions& options) {
  if (folders.empty()) throw_user_error("no model folder given (--model DIR)");
  for (const std::string& folder : folders) {
    scorers_.push_back(std::make_unique<Scorer>(folder, device, options));
    const Scorer& first = *scorers_.front();
    const Scorer& s = *scorers_.back();
    if (s.labels() != first.labels() || s.label_values() != first.label_values())
      throw_user_error(
          "{}: its overall labels differ from {}'s, so their scores cannot be averaged", folder,
          first.path());
    if (s.asks_element_questions() != first.asks_element_questions())
      throw_user_error("{}: prompt.element_questions is {} but {} for {}", folder,
                       s.asks_element_questions(), first.asks_element_questions(), first.path());
  }
}

BagSample ScorerBag::prepare(const data::Record& record, const data::RgbImage& image) const {
  BagSample sample;
  sample.reserve(scorers_.size());
  for (const auto& scorer : scorers_) sample.push_back(scorer->prepare(record, image));
  return sample;
}

std::vector<SampleScores> ScorerBag::score(std::vector<BagSample> items) {
  std::vector<SampleScores> mean;
  for (size_t m = 0; m < scorers_.size(); ++m) {
    std::vector<data::PreparedSample> samples;
    samples.reserve(items.size());
    for (auto& item : items) samples.push_back(std::move(item.at(m)));
    std::vector<SampleScores> scores = scorers_[m]->score(std::move(samples));
    if (m == 0) {
      mean = std::move(scores);
      continue;
    }
    for (size_t i = 0; i < mean.size(); ++i) {
      mean[i].score += scores[i].score;
      for (size_t k = 0; k < mean[i].label_probs.size(); ++k)
        mean[i].label_probs[k] += scores[i].label_probs[k];
      for (size_t e = 0; e < mean[i].element_probs.size(); ++e)
        mean[i].element_probs[e] += scores[i].element_probs[e];
    }
  }
  if (scorers_.size() > 1) {
    const double n = static_cast<double>(scorers_.size());
    for (auto& s : mean) {
      s.score /= n;
      for (auto& q : s.label_probs) q /= n;
      for (auto& p : s.element_probs) p /= n;
    }
  }
  return mean;
}

std::vector<SampleScores> ScorerBag::score_records(const std::vector<data::Record>& records,
                                                   const std::string& image_root,
                                                   int64_t batch_size) {
  std::vector<SampleScores> out;
  out.reserve(records.size());
  std::vector<BagSample> chunk;
  for (size_t i = 0; i < records.size(); ++i) {
    const data::Record& record = records[i];
    chunk.push_back(data::in_record_context(static_cast<int64_t>(i), record, [&] {
      const auto path = (std::filesystem::path(image_root) / record.img_path).string();
      return prepare(record, data::decode_image_file(path));
    }));
    if (static_cast<int64_t>(chunk.size()) == batch_size || i + 1 == records.size()) {
      for (auto& s : score(std::move(chunk))) out.push_back(std::move(s));
      chunk.clear();
    }
  }
  return out;
}

}  // namespace tokenfocus::scoring
