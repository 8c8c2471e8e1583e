// k-fold cross-validation split: grouped by prompt_id (no prompt in two folds), stratified by MOS,
// seeded and portable (same records + k + seed give the same folds on any machine). The split is
// written to RUN/folds.json and reused when a run resumes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/records.h"

namespace tokenfocus::data {

struct FoldAssignment {
  int64_t k = 0;
  uint64_t seed = 0;
  std::vector<std::string> keys;  // sample keys (img_path), in record order
  std::vector<int64_t> fold;      // fold of keys[i], in [0, k)

  // Positions (into keys) held out in `fold` / used for training when `fold` is held out.
  std::vector<int64_t> validation_indices(int64_t held_out) const;
  std::vector<int64_t> training_indices(int64_t held_out) const;
};

// Groups records by prompt_id, sorts the groups by mean MOS (ties by prompt_id), cuts the sorted
// list into consecutive bins of k groups, shuffles each bin (seeded) and gives each group in turn
// to the fold that holds the fewest samples so far (ties broken at random). At every MOS level the
// folds' cumulative sizes then differ by less than one group, so every fold's MOS distribution
// follows the whole set's, and folds hold about n/k samples. Every record needs a MOS.
FoldAssignment make_folds(const std::vector<Record>& records, int64_t k, uint64_t seed);

// RUN/folds.json: {"schema_version": 1, "k", "seed", "samples": [{"key", "prompt_id", "fold"}]}.
void write_folds(const std::string& path, const FoldAssignment& folds,
                 const std::vector<Record>& records);  // temp + rename
FoldAssignment read_folds(const std::string& path);

// Reuses RUN/folds.json when it exists (resume): its k, seed and sample set must equal these, or a
// UserError says what differs; otherwise makes the folds and writes the file. The result follows
// the order of `records`.
FoldAssignment load_or_make_folds(const std::string& run_dir, const std::vector<Record>& records,
                                  int64_t k, uint64_t seed);

}  // namespace tokenfocus::data
