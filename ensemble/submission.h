// The NTIRE 2025 Track 1 submission (docs/formats/submission.md): output.json — a list of
// {prompt, img_path, total_score, element_score} with float values, element keys copied verbatim
// from the test records — and readme.txt with the challenge's fields.
#pragma once

#include <string>
#include <vector>

#include "common/config/sections/ensemble.h"
#include "data/records.h"

namespace tokenfocus::ensemble {

// The JSON text of output.json. `scores` has one value per record, `elements` one per element of
// each record in order. Checks before anything is written: sizes agree, every value is finite
// (UserError naming the img_path and element otherwise).
std::string submission_json(const std::vector<data::Record>& records,
                            const std::vector<double>& scores, const std::vector<double>& elements);

// Re-reads a written output.json and checks it against the test records: every record present
// once, the same element keys, finite values. UserError naming the first problem.
void validate_submission(const std::string& output_json_path,
                         const std::vector<data::Record>& test_records);

// The challenge's readme.txt.
std::string submission_readme(const config::SubmissionReadmeConfig& readme,
                              const std::string& generated_description);

// Writes DIR/output.json and DIR/readme.txt (each to a temporary name, then renamed), then
// validates output.json.
void write_submission(const std::string& directory, const std::vector<data::Record>& records,
                      const std::vector<double>& scores, const std::vector<double>& elements,
                      const config::SubmissionReadmeConfig& readme,
                      const std::string& generated_description);

}  // namespace tokenfocus::ensemble
