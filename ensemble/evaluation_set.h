// Ground truth and predictions aligned the way the official evaluate.py aligns them: records sorted
// by img_path, element keys taken from the ground truth (in its order), elements flattened.
#pragma once

#include <string>
#include <vector>

#include "data/records.h"
#include "ensemble/metrics.h"

namespace tokenfocus::ensemble {

struct EvaluationSet {
  std::vector<std::string> keys;  // img_path, sorted ascending
  std::vector<std::string> prompts;
  std::vector<double> score;              // ground-truth MOS per record
  std::vector<size_t> element_offsets;    // record i owns elements [offsets[i], offsets[i+1])
  std::vector<std::string> element_keys;  // verbatim "red (color)"
  std::vector<std::string> element_category;
  std::vector<double> element;  // ground-truth element means
  size_t size() const { return keys.size(); }
};

// One model's (or ensemble's) predictions aligned to an EvaluationSet.
struct AlignedPrediction {
  std::vector<double> score;    // per record
  std::vector<double> element;  // per flattened element
};

// From ground-truth records (training lists or eval.json floats). `source` names the file in
// errors: a record without MOS or an element without a label is a UserError.
EvaluationSet evaluation_set_from_records(std::vector<data::Record> records,
                                          const std::string& source);

// Looks up each ground-truth record and element in a submission (as evaluate.py: by sorted
// img_path, element keys from the ground truth). Missing or extra records, missing element keys
// and non-finite values are UserErrors naming the img_path and key.
AlignedPrediction align_submission(const EvaluationSet& truth,
                                   const std::vector<data::Record>& submission,
                                   const std::string& source);

Metrics evaluate(const EvaluationSet& truth, const AlignedPrediction& prediction,
                 PlccDirection direction);

// `tokenfocus evaluate`: reads both files and scores the submission against the ground truth.
Metrics evaluate_files(const std::string& submission_path, const std::string& truth_path,
                       PlccDirection direction);

}  // namespace tokenfocus::ensemble
