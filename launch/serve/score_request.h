// The JSON bodies of the scoring routes, checked field by field before any work is done:
//   POST /v1/score         {"items": [ITEM, ...]}
//   POST /v1/reward/pairs  {"groups": [{"prompts": [P1, P2], "images": [[IMG, ...], [IMG, ...]],
//                                       "elements": [[E, ...], [E, ...]]}, ...]}
// ITEM = {"image": IMG, "prompt": "...", "elements": ["red car (color)", ...]} (elements optional),
// IMG = {"path": "relative/to/image-root.png"} or {"base64": "..."}. Unknown fields, wrong types,
// empty or over-long texts and malformed JSON are RequestError 400 naming the field
// ("items[2].image").
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace tokenfocus::launch::serve {

// Bounds that keep one request from asking for an unbounded forward (the decoder's cost grows with
// the square of the sequence): EvalMuse prompts are under 500 bytes and have at most ~20 elements.
inline constexpr size_t kMaxTextBytes = 4096;  // a prompt, an element, an image path
inline constexpr size_t kMaxElements = 64;     // per item

struct ImageRef {
  std::string path;    // relative to --image-root, or
  std::string base64;  // the encoded file's bytes
  std::string where;   // "items[2].image": how errors name it
};

struct ScoreItem {
  ImageRef image;
  std::string prompt;
  std::vector<std::string> elements;  // verbatim keys, "red car (color)"
};

// Items in body order. RequestError 413 when there are more than `max_items`.
std::vector<ScoreItem> parse_score_request(const std::string& body, size_t max_items);

// A FocusDiff prompt group: one or two prompts (a pair), each with its generated images. Its items
// are the images in prompt-major order, each with its prompt (and that prompt's elements).
struct PromptGroup {
  size_t prompts = 0;
  std::vector<size_t> images_per_prompt;
  std::vector<ScoreItem> items;
};

// RequestError 400 for a group with fewer than two images in all (no spread to normalise by),
// 413 when all groups together hold more than `max_items` images.
std::vector<PromptGroup> parse_pairs_request(const std::string& body, size_t max_items);

}  // namespace tokenfocus::launch::serve
