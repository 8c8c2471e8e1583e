#include "launch/serve/scoring_service.h"

#include "common/error.h"
#include "data/image.h"
#include "launch/serve/request_error.h"
#include "scoring/scores_json.h"

namespace tokenfocus::launch::serve {

ScoringService::ScoringService(const std::vector<std::string>& models,
                               const std::string& image_root, torch::Device device,
                               BatcherOptions options, ServeMetrics& metrics)
    : bag_(models, device),
      root_(image_root),
      options_(options),
      metrics_(metrics),
      batcher_(
          [this](std::vector<scoring::BagSample> items) { return bag_.score(std::move(items)); },
          options, [this](size_t batch) { metrics_.batch_done(batch); }) {}

data::Record ScoringService::record_for(const ScoreItem& item) const {
  data::Record record;
  record.prompt_id = item.image.where;
  record.prompt = item.prompt;
  record.img_path = item.image.where;
  if (!item.elements.empty() && !bag_.asks_element_questions())
    throw RequestError(400, item.image.where.substr(0, item.image.where.rfind('.')) + ".elements",
                       "the model was trained without element questions "
                       "(prompt.element_questions: false): send no elements");
  for (const std::string& key : item.elements) {
    data::Element element;
    element.key = key;
    data::split_element_key(key, element.name, element.category);
    record.elements.push_back(std::move(element));
  }
  return record;
}

data::RgbImage ScoringService::decode(const ImageRef& image) const {
  try {
    if (!image.path.empty())
      return data::decode_image_file(root_.resolve(image.path, image.where + ".path").string());
    const std::vector<uint8_t> bytes = decode_base64(image.base64, image.where + ".base64");
    return data::decode_image_bytes(bytes.data(), bytes.size(), image.where + ".base64");
  } catch (const UserError& e) {
    throw RequestError(422, image.where, e.what());
  }
}

std::vector<scoring::SampleScores> ScoringService::score(const std::vector<ScoreItem>& items) {
  if (!batcher_.reserve(items.size()))
    throw RequestError(503, "",
                       fmt::format("the queue is full ({} items waiting, --max-queue {}): retry "
                                   "later",
                                   batcher_.depth(), options_.max_queue));
  std::vector<scoring::BagSample> prepared;
  try {
    for (const ScoreItem& item : items) {
      const data::Record record = record_for(item);
      const data::RgbImage image = decode(item.image);
      try {
        prepared.push_back(bag_.prepare(record, image));
      } catch (const UserError& e) {
        throw RequestError(422, item.image.where, e.what());
      }
    }
  } catch (...) {
    batcher_.release(items.size());
    throw;
  }
  std::vector<std::future<scoring::SampleScores>> futures = batcher_.submit(std::move(prepared));
  std::vector<scoring::SampleScores> scores;
  scores.reserve(futures.size());
  for (auto& f : futures) scores.push_back(f.get());  // scoring errors surface here (500)
  return scores;
}

nlohmann::ordered_json ScoringService::item_json(const ScoreItem& item,
                                                 const scoring::SampleScores& scores) const {
  return scoring::scores_json(scores, record_for(item), bag_.labels());
}

}  // namespace tokenfocus::launch::serve
