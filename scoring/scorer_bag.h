// Several exported fold models scored as one (`serve --model A --model B`, `paircomp`; `score`
// is a bag of one): each item
// is prepared and scored by every model, and the bag's scores are the mean over models of ŝ, q and
// each element's P(yes) — the bag of the ensemble's test predictions (mean over folds). The models
// must share the overall label set and whether they ask element questions.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "scoring/scorer.h"

namespace tokenfocus::scoring {

// One item prepared for every model of the bag (entry m for model m).
using BagSample = std::vector<data::PreparedSample>;

class ScorerBag {
 public:
  // UserError naming the first folder that disagrees with the first one.
  ScorerBag(const std::vector<std::string>& folders, torch::Device device,
            const ScorerOptions& options = {});

  size_t size() const { return scorers_.size(); }
  const Scorer& front() const { return *scorers_.front(); }
  const std::vector<std::string>& labels() const { return front().labels(); }
  bool asks_element_questions() const { return front().asks_element_questions(); }

  // Thread-safe.
  BagSample prepare(const data::Record& record, const data::RgbImage& image) const;
  // One forward per model over all items; the mean over models, in item order. One caller at a
  // time.
  std::vector<SampleScores> score(std::vector<BagSample> items);
  // Records whose img_path is relative to `image_root`, `batch_size` per forward, each image
  // decoded once for all models; UserErrors name the record and its img_path.
  std::vector<SampleScores> score_records(const std::vector<data::Record>& records,
                                          const std::string& image_root, int64_t batch_size);

 private:
  std::vector<std::unique_ptr<Scorer>> scorers_;
};

}  // namespace tokenfocus::scoring
