#include "data/label_set.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "common/error.h"

namespace tokenfocus::data {
namespace {

std::string describe_tokens(const Tokenizer& tokenizer, const std::vector<int64_t>& ids) {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += " ";
    out += fmt::format("{}=\"{}\"", ids[i], tokenizer.decode({ids[i]}));
  }
  return ids.empty() ? "no tokens" : out;
}

std::vector<std::string> case_variants(const std::string& label) {
  std::string lower = label, upper = label, capital = label;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  capital = lower;
  if (!capital.empty())
    capital[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(capital[0])));
  std::vector<std::string> out;
  for (const std::string& v : {lower, capital, upper}) {
    if (v != label && std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  }
  return out;
}

}  // namespace

LabelSet resolve_label_set(const Tokenizer& tokenizer, const config::LabelSetConfig& config,
                           bool sum_case_variants, const std::string& key_path) {
  if (config.labels.size() != config.values.size()) {
    throw_user_error("{}: labels has {} entries but values has {}", key_path, config.labels.size(),
                     config.values.size());
  }
  if (config.labels.size() < 2) {
    throw_user_error("{}: a label set needs at least two labels, got {}", key_path,
                     config.labels.size());
  }
  LabelSet set;
  set.labels = config.labels;
  set.values = config.values;
  for (size_t i = 0; i < config.labels.size(); ++i) {
    const std::string& label = config.labels[i];
    const auto ids = tokenizer.encode(label);
    if (ids.size() != 1) {
      throw_user_error("{}.labels[{}] = \"{}\" is not a single token of {}: it tokenises as {}",
                       key_path, i, label, tokenizer.name(), describe_tokens(tokenizer, ids));
    }
    const auto same = std::find(set.token_ids.begin(), set.token_ids.end(), ids[0]);
    if (same != set.token_ids.end()) {
      throw_user_error("{}.labels[{}] = \"{}\" is the same token ({}) as labels[{}]", key_path, i,
                       label, ids[0], same - set.token_ids.begin());
    }
    set.token_ids.push_back(ids[0]);
  }
  std::vector<int64_t> taken = set.token_ids;
  set.variant_token_ids.resize(set.labels.size());
  if (!sum_case_variants) return set;
  for (size_t i = 0; i < set.labels.size(); ++i) {
    for (const std::string& variant : case_variants(set.labels[i])) {
      const auto ids = tokenizer.encode(variant);
      if (ids.size() != 1 || std::find(taken.begin(), taken.end(), ids[0]) != taken.end()) continue;
      set.variant_token_ids[i].push_back(ids[0]);
      taken.push_back(ids[0]);
    }
  }
  return set;
}

}  // namespace tokenfocus::data
