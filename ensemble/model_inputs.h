// Everything the ensemble consumes, aligned: each backbone's out-of-fold predictions on the
// training rows every backbone predicted (with the ground truth), and its fold-bagged (averaged)
// test predictions in the order of the test records. Built from the predictions stores;
// inconsistent stores are refused here with a message naming the backbone, fold, sample or
// attribute.
#pragma once

#include <string>
#include <vector>

#include "data/prediction_store.h"
#include "data/records.h"
#include "ensemble/evaluation_set.h"

namespace tokenfocus::ensemble {

// One model's predictions aligned to a list of rows and their flattened elements.
struct ModelTable {
  std::vector<double> score;        // per row
  std::vector<double> label_probs;  // rows × num_labels
  std::vector<double> element;      // per flattened element of the rows
};

struct ModelInputs {
  std::string name;  // backbone name
  int64_t num_folds = 0;
  std::vector<int> fold;  // per OOF row: the fold whose model predicted it
  ModelTable oof;         // aligned to EnsembleInputs::truth
  ModelTable test;        // mean over the fold models, aligned to EnsembleInputs::test_records
  std::vector<ModelTable> test_per_fold;
};

struct EnsembleInputs {
  std::vector<std::string> labels;
  std::vector<double> label_values;
  std::string config_hash;
  EvaluationSet truth;  // OOF rows (sorted by img_path) with MOS and element labels
  std::vector<ModelInputs> models;
  std::vector<data::Record> test_records;    // as read (output order); empty = no test set
  std::vector<size_t> test_element_offsets;  // flattened test elements per record
  // False when no backbone predicted element probabilities (prompt.element_questions: false):
  // then truth and tables hold no elements, and element accuracy / final are not available.
  bool has_elements = true;
  size_t num_labels() const { return labels.size(); }
};

// `train_records` gives the ground truth of OOF rows; `test_records` may be empty. Stores from
// different run configs are refused unless `allow_mixed_configs` (then a warning names them).
// Stores without any element prediction give inputs without elements; a mix of stores with and
// without them is refused, naming one of each.
EnsembleInputs build_ensemble_inputs(const std::vector<data::BackboneStore>& stores,
                                     const std::vector<data::Record>& train_records,
                                     const std::vector<data::Record>& test_records,
                                     bool allow_mixed_configs = false);

}  // namespace tokenfocus::ensemble
