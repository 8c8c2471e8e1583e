// EvalMuse-40K / NTIRE 2025 Track 1 records (docs/formats/records.md): one image generated for a
// prompt, its annotators' overall scores and its prompt elements' annotator labels.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tokenfocus::data {

// One prompt element: the verbatim key "red (color)" split into name "red" and category "color".
struct Element {
  std::string key;             // verbatim, copied back into submissions
  std::string name;            // text before the trailing " (category)"
  std::string category;        // text inside the trailing parentheses ("" when the key has none)
  std::vector<double> labels;  // annotators' 0/1 labels (empty for test records)
  std::optional<double> mean;  // mean of labels, or the ground-truth float; none when unknown
  // Weight of this element's question in training (data.element_flags, a pseudo-label's
  // confidence); 0 = not asked in training. Predictions ask every element whatever its weight.
  double weight = 1;
};

// EvalMuse's per-record annotation flags (0/1 in the files; absent in the challenge's test and
// ground-truth files). data.element_flags turns them into element-question weights.
struct RecordFlags {
  std::optional<double> promt_meaningless;  // sic: EvalMuse's spelling of the key
  std::optional<double> split_confidence;
  std::optional<double> attribute_confidence;
};

// A teacher's prediction standing in for annotators (data.pseudo_labels): its distribution over
// the overall label set, with the label values it is over.
struct SoftTarget {
  std::vector<double> label_values;
  std::vector<double> probabilities;
};

// One (prompt, image) sample. Its key is img_path: unique within a file.
struct Record {
  std::string prompt_id;  // groups the images of one prompt (ground-truth files: the prompt text)
  std::string prompt;
  std::string img_path;                  // relative to the image root
  std::vector<double> annotator_scores;  // 1..5 each; empty when unknown
  std::optional<double> mos;             // mean of annotator_scores, or the ground-truth float
  std::vector<Element> elements;         // in file order
  RecordFlags flags;
  // Pseudo-labelled records only: the weight of all of its questions in training and the teacher's
  // overall distribution (empty = the soft target is formed from `mos`, as for a ground-truth
  // file).
  double weight = 1;
  SoftTarget overall_target;
  bool pseudo_labelled = false;
};

// Reads a JSON list of records in the EvalMuse layout (lists per annotator) or the challenge's
// ground-truth layout (floats). Unknown keys are ignored. A malformed record throws one UserError
// naming the file, the record index and the key; a repeated img_path is an error too.
std::vector<Record> read_records(const std::string& path);
// The same from JSON text; `source` names it in errors.
std::vector<Record> parse_records(const std::string& json_text, const std::string& source);

// Splits "left of (location)" into {"left of", "location"}; a key without a trailing
// "(...)" is all name.
void split_element_key(const std::string& key, std::string& name, std::string& category);

enum class MissingImages { kError, kSkip };
MissingImages parse_missing_images(const std::string& value);  // "error" | "skip"

// Checks that every record's image exists below image_root. kError: one UserError listing the
// first 10 missing paths and their count; kSkip: drops those records and logs how many.
std::vector<Record> check_images(std::vector<Record> records, const std::string& image_root,
                                 MissingImages policy, const std::string& records_path);

}  // namespace tokenfocus::data
