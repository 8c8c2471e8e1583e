// A loaded fold model that scores: records in, SampleScores out, with no communicator (one
// process; through scoring/scorer_bag.h, `score`, `serve` and `paircomp`). Preparing a sample
// (decode, resize, tokenise) and scoring prepared samples are separate steps, so a server can
// prepare on its request threads and score on one batching thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/batch_builder.h"
#include "scoring/batch_scores.h"
#include "scoring/scorer_folder.h"

namespace tokenfocus::scoring {

// "auto": the first GPU when torch sees one, else the CPU; "cuda": a GPU or a UserError; "cpu".
torch::Device choose_device(const std::string& name);

// How a scorer lays out its forwards; the scores are the same either way.
struct ScorerOptions {
  bool packing = true;         // a sample's questions share one decoder row (prompt.packing)
  int64_t forward_tokens = 0;  // > 0: forwards of at most this many padded tokens
};

class Scorer {
 public:
  // Loads the folder (load_scorer_folder) and moves the model to `device`.
  Scorer(const std::string& folder, torch::Device device, const ScorerOptions& options = {});
  Scorer(const Scorer&) = delete;  // the builder keeps references into this object
  Scorer& operator=(const Scorer&) = delete;

  const ScorerFolder& folder() const { return folder_; }
  const std::string& path() const { return path_; }
  const std::vector<std::string>& labels() const { return folder_.overall_labels.labels; }
  const std::vector<double>& label_values() const { return folder_.overall_labels.values; }
  bool asks_element_questions() const { return folder_.config.prompt.element_questions; }

  // Thread-safe. UserError (unprefixed) when the image cannot be processed.
  data::PreparedSample prepare(const data::Record& record, const data::RgbImage& image) const;
  // Scores prepared samples in one forward (their order). Not thread-safe: one caller at a time.
  std::vector<SampleScores> score(std::vector<data::PreparedSample> samples);

 private:
  std::string path_;
  ScorerFolder folder_;
  losses::LabelHead overall_, element_;  // on the model's device
  ReadoutOptions readout_;
  std::vector<data::Record> no_records_;  // prepare() takes its record directly
  std::unique_ptr<data::BatchBuilder> builder_;
};

}  // namespace tokenfocus::scoring
