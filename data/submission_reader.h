// Reads a submission (output.json layout: a list of {prompt, img_path, total_score, element_score}
// with floats). Unlike ground truth, predicted values are not range-checked — the official script
// accepts any number (a stacker may predict 5.01) — but they must be finite numbers. Lists are
// averaged, so a training-layout file can be scored as a prediction too.
#pragma once

#include <string>
#include <vector>

#include "data/records.h"

namespace tokenfocus::data {

// UserError naming the file, record index and key for anything malformed or a repeated img_path.
std::vector<Record> read_submission(const std::string& path);

}  // namespace tokenfocus::data
