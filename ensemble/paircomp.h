// PairComp (FocusDiff, arXiv 2506.05501): each pair has two prompts that differ in one detail and
// two images per prompt, each scored by a judge (e.g. a trained tokenfocus scorer). For a pair the
// arithmetic mean of its four scores measures overall quality, the geometric mean punishes a
// single failure; s_a and s_g average them over a category's pairs, and the overall figures
// average over categories (each category counts once).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace tokenfocus::ensemble {

struct PairCompScore {
  std::string category;
  std::string pair_id;
  int prompt_index = 0;  // 0 or 1
  int image_index = 0;   // 0 or 1
  double score = 0;      // ≥ 0 (a probability or a 1–5 score)
};

struct PairCompCategory {
  size_t pairs = 0;
  double s_a = 0;  // mean over pairs of the arithmetic mean of the 4 scores
  double s_g = 0;  // mean over pairs of their geometric mean
};

struct PairCompResult {
  std::map<std::string, PairCompCategory> categories;
  double s_a = 0;  // mean over categories
  double s_g = 0;
};

// One entry of FocusDiff's PairComp.json: a list of {category, caption1, caption2}; pair i's images
// are named i_Y_Z.png (Y: 0 = caption1, 1 = caption2; Z: first or second image).
struct PairCompPrompts {
  std::string category;
  std::string caption1, caption2;
};

// UserError naming the file and entry for malformed JSON or a missing / empty field.
std::vector<PairCompPrompts> read_paircomp_prompts(const std::string& path);

// Reads JSON lines {category, pair_id, prompt_index, image_index, score}; blank lines are skipped.
// UserError naming file:line for malformed lines.
std::vector<PairCompScore> read_paircomp_scores(const std::string& path);

// UserError when a pair does not have exactly the four (prompt, image) scores or a score is
// negative or not finite; `source` names the input in messages.
PairCompResult paircomp(const std::vector<PairCompScore>& scores, const std::string& source);

}  // namespace tokenfocus::ensemble
