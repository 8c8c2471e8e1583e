#include "ensemble/submission.h"

#include <cmath>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/error.h"
#include "data/submission_reader.h"

namespace tokenfocus::ensemble {

std::string submission_json(const std::vector<data::Record>& records,
                            const std::vector<double>& scores,
                            const std::vector<double>& elements) {
  if (scores.size() != records.size()) {
    throw_internal_error("submission: {} scores for {} records", scores.size(), records.size());
  }
  size_t e = 0;
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    if (!std::isfinite(scores[i])) {
      throw_user_error("submission: total_score of '{}' is not finite ({})", r.img_path, scores[i]);
    }
    nlohmann::ordered_json element_score = nlohmann::ordered_json::object();
    for (const auto& element : r.elements) {
      if (e >= elements.size()) throw_internal_error("submission: too few element predictions");
      if (!std::isfinite(elements[e])) {
        throw_user_error("submission: element '{}' of '{}' is not finite", element.key, r.img_path);
      }
      element_score[element.key] = elements[e++];
    }
    out.push_back({{"prompt", r.prompt},
                   {"img_path", r.img_path},
                   {"total_score", scores[i]},
                   {"element_score", std::move(element_score)}});
  }
  if (e != elements.size()) {
    throw_internal_error("submission: {} element predictions for {} elements", elements.size(), e);
  }
  return out.dump(1) + "\n";
}

void validate_submission(const std::string& path, const std::vector<data::Record>& test_records) {
  // Read back with the submission reader: proves the layout round-trips.
  const auto written = data::read_submission(path);
  std::unordered_map<std::string, const data::Record*> by_path;
  for (const auto& r : written) by_path.emplace(r.img_path, &r);
  if (written.size() != test_records.size()) {
    throw_user_error("{}: {} records written for {} test records", path, written.size(),
                     test_records.size());
  }
  for (const auto& t : test_records) {
    const auto it = by_path.find(t.img_path);
    if (it == by_path.end()) throw_user_error("{}: test record '{}' is missing", path, t.img_path);
    const auto& w = *it->second;
    if (!w.mos || !std::isfinite(*w.mos)) {
      throw_user_error("{}: '{}' has no finite total_score", path, t.img_path);
    }
    if (w.prompt != t.prompt) throw_user_error("{}: prompt of '{}' differs", path, t.img_path);
    if (w.elements.size() != t.elements.size()) {
      throw_user_error("{}: '{}' has {} elements, the test record {}", path, t.img_path,
                       w.elements.size(), t.elements.size());
    }
    for (size_t i = 0; i < t.elements.size(); ++i) {
      if (w.elements[i].key != t.elements[i].key) {
        throw_user_error("{}: '{}' element {} is '{}', expected '{}'", path, t.img_path, i,
                         w.elements[i].key, t.elements[i].key);
      }
    }
  }
}

std::string submission_readme(const config::SubmissionReadmeConfig& readme,
                              const std::string& generated_description) {
  const std::string description =
      readme.description.empty() ? generated_description : readme.description;
  return fmt::format(
      "runtime per image [s] : {:.2f}\n"
      "CPU[1] / GPU[0] : {}\n"
      "Extra Data [1] / No Extra Data [0] : {}\n"
      "Other description : {}\n",
      readme.runtime_per_image, readme.uses_gpu ? 0 : 1, readme.extra_data ? 1 : 0, description);
}

void write_submission(const std::string& directory, const std::vector<data::Record>& records,
                      const std::vector<double>& scores, const std::vector<double>& elements,
                      const config::SubmissionReadmeConfig& readme,
                      const std::string& generated_description) {
  const std::string json = submission_json(records, scores, elements);  // checks first
  const std::string output_path = directory + "/output.json";
  write_file_atomically(output_path, json);
  write_file_atomically(directory + "/readme.txt",
                        submission_readme(readme, generated_description));
  validate_submission(output_path, records);
}

}  // namespace tokenfocus::ensemble
