// Suggests the closest known key for a misspelled one ("lrr" -> "lr").
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tokenfocus::config {

// Edit (Levenshtein) distance between two strings.
size_t edit_distance(std::string_view a, std::string_view b);

// The candidate nearest to `key` when it is close enough to be a likely typo, else "".
std::string closest_key(std::string_view key, const std::vector<std::string>& candidates);

}  // namespace tokenfocus::config
