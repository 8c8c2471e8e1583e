// `data.pseudo_labels`: unlabelled records (e.g. the test or validation images) with a teacher's
// predictions as their training targets, as iMatch (NTIRE 2025 T2I track 1, first place) trained
// on pseudo-labelled test images. The teacher is
//   - a predictions store file (RUN/predictions/<backbone>/fold<k>.h5): its test rows;
//   - a backbone's store folder (RUN/predictions/<backbone>): the mean over its folds' test rows,
//     i.e. the bag;
//   - a submission (output.json layout, e.g. RUN/ensemble/output.json): scores only.
// Each record then holds mos = the teacher's ŝ, each element's mean = its P(yes), and, from a
// store, overall_target = its q over the store's label set; `weight` is the config's and questions
// whose teacher confidence is below min_confidence are not asked (a record whose overall question
// falls below it is left out). The trainer adds them to every fold's training part only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config/sections/data.h"
#include "data/records.h"

namespace tokenfocus::data {

struct PseudoLabels {
  std::vector<Record> records;  // pseudo_labelled = true
  int64_t unlabelled = 0;       // records read
  int64_t left_out = 0;         // overall confidence below min_confidence
  int64_t elements = 0;         // element questions kept
  int64_t elements_left_out = 0;
};

// `records_path`: config.records, or data.test_records when that is "". UserError naming the file
// (and the record) when the teacher has no prediction for a record, its elements differ from the
// record's, a record already holds labels, or min_confidence > 0 filters overall questions of a
// submission (which has no label probabilities).
PseudoLabels read_pseudo_labels(const config::PseudoLabelsConfig& config,
                                const std::string& records_path);

// UserError when a pseudo-labelled record is also a labelled one (same img_path): it would train
// on its own prediction and could land in an evaluation row.
void check_disjoint(const std::vector<Record>& labelled, const std::vector<Record>& pseudo,
                    const std::string& labelled_path);

}  // namespace tokenfocus::data
