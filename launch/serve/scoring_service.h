// The scoring behind the HTTP routes: a bag of exported fold models (scoring/scorer_bag.h) fed by
// a dynamic batcher. A request's thread decodes, resizes and tokenises its own items (so decoding
// runs on as many threads as there are requests in flight), then waits while the batching thread
// scores them together with other requests' items.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "launch/serve/dynamic_batcher.h"
#include "launch/serve/image_input.h"
#include "launch/serve/score_request.h"
#include "launch/serve/serve_metrics.h"
#include "scoring/scorer_bag.h"

namespace tokenfocus::launch::serve {

class ScoringService {
 public:
  ScoringService(const std::vector<std::string>& models, const std::string& image_root,
                 torch::Device device, BatcherOptions options, ServeMetrics& metrics);

  const scoring::ScorerBag& bag() const { return bag_; }
  size_t max_queue() const { return options_.max_queue; }
  size_t queue_depth() const { return batcher_.depth(); }  // items admitted, not yet scored

  // Scores of `items`, in order; throws RequestError (503 when the queue has no room, 4xx for an
  // image that cannot be read, naming the item).
  std::vector<scoring::SampleScores> score(const std::vector<ScoreItem>& items);
  // The JSON of one item's scores, as `tokenfocus score` writes it.
  nlohmann::ordered_json item_json(const ScoreItem& item,
                                   const scoring::SampleScores& scores) const;

  // Scores what is queued, then stops the batching thread (after the HTTP server has drained).
  void stop() { batcher_.stop(); }

 private:
  data::Record record_for(const ScoreItem& item) const;
  data::RgbImage decode(const ImageRef& image) const;

  scoring::ScorerBag bag_;
  ImageRoot root_;
  BatcherOptions options_;
  ServeMetrics& metrics_;
  DynamicBatcher<scoring::BagSample, scoring::SampleScores> batcher_;
};

}  // namespace tokenfocus::launch::serve
