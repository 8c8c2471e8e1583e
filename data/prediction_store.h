// Predictions store (docs/formats/predictions.md): the out-of-fold and test predictions of one
// backbone's fold, in HDF5 (schema version 1) at RUN/predictions/<backbone>/fold<k>.h5. One file
// per (backbone, fold), so concurrent jobs (Slurm arrays) never share a file; readers merge them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tokenfocus::data {

inline constexpr int64_t kPredictionStoreSchemaVersion = 1;

// Predictions for n samples: sample i's elements are element_keys/element_prob
// [element_offsets[i], element_offsets[i + 1]).
struct PredictionSet {
  std::vector<std::string> keys;    // sample keys (img_path)
  std::vector<double> score;        // expected score ŝ per sample
  int64_t num_labels = 0;           // |S| of the overall label set
  std::vector<double> label_probs;  // [n × num_labels], row-major: q over S
  std::vector<int64_t> element_offsets{0};
  std::vector<std::string> element_keys;  // verbatim "red (color)"
  std::vector<double> element_prob;       // P(yes) per element

  size_t size() const { return keys.size(); }
  // Appends one sample (what the trainer does while predicting).
  void add(const std::string& key, double score_value, const std::vector<double>& probs,
           const std::vector<std::string>& element_keys_of_sample,
           const std::vector<double>& element_probs_of_sample);
  // Throws InternalError when the arrays disagree in length; `what` names the set in the message.
  void validate(const std::string& what) const;
};

struct FoldPredictions {
  int64_t fold = 0;
  PredictionSet oof;                      // the held-out fold's training samples
  PredictionSet test;                     // the test split, predicted by this fold's model
  std::map<std::string, double> metrics;  // e.g. "srcc", "plcc", "final", "epoch"
};

// Attributes every fold file of one backbone run shares.
struct StoreHeader {
  std::string backbone, config_yaml, config_hash, code_version;
  std::vector<std::string> labels;  // overall label set S
  std::vector<double> label_values;
  int64_t num_folds = 0;
};

// Writes RUN/predictions/<header.backbone>/fold<k>.h5 (temporary name, then rename).
void write_fold_predictions(const std::string& run_dir, const StoreHeader& header,
                            const FoldPredictions& fold);
// The path write_fold_predictions writes.
std::string fold_predictions_path(const std::string& run_dir, const std::string& backbone,
                                  int64_t fold);

// Reads one fold file: its header and predictions. UserError naming the file when it is not a
// schema-1 predictions file.
FoldPredictions read_fold_predictions(const std::string& path, StoreHeader* header = nullptr);

struct BackboneStore {
  StoreHeader header;
  std::vector<FoldPredictions> folds;  // sorted by fold number
};

// Every fold<k>.h5 of one backbone directory; their headers must agree (UserError naming the file
// and the attribute that differs). code_version may differ (logged): a resumed run may span builds.
BackboneStore read_backbone_store(const std::string& backbone_dir);
// Every backbone under RUN/predictions, sorted by name.
std::vector<BackboneStore> read_run_stores(const std::string& run_dir);

}  // namespace tokenfocus::data
