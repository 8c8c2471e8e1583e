#include "ensemble/paircomp.h"

#include <array>
#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace tokenfocus::ensemble {

std::vector<PairCompPrompts> read_paircomp_prompts(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw_user_error("cannot open PairComp prompts {}", path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw_user_error("{}: not JSON ({})", path, e.what());
  }
  if (!j.is_array() || j.empty())
    throw_user_error("{}: needs a non-empty JSON list of {{category, caption1, caption2}}", path);
  std::vector<PairCompPrompts> prompts;
  for (size_t i = 0; i < j.size(); ++i) {
    PairCompPrompts p;
    for (auto [key, field] :
         {std::pair{"category", &p.category}, std::pair{"caption1", &p.caption1},
          std::pair{"caption2", &p.caption2}}) {
      if (!j[i].is_object() || !j[i].contains(key) || !j[i][key].is_string() ||
          j[i][key].get<std::string>().empty())
        throw_user_error("{}: entry {} needs a non-empty string '{}'", path, i, key);
      *field = j[i][key].get<std::string>();
    }
    prompts.push_back(std::move(p));
  }
  return prompts;
}

std::vector<PairCompScore> read_paircomp_scores(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw_user_error("cannot open PairComp scores {}", path);
  std::vector<PairCompScore> scores;
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      throw_user_error("{}:{}: not a JSON object ({})", path, number, e.what());
    }
    PairCompScore s;
    try {
      s.category = j.at("category").get<std::string>();
      s.pair_id =
          j.at("pair_id").is_string() ? j.at("pair_id").get<std::string>() : j.at("pair_id").dump();
      s.prompt_index = j.at("prompt_index").get<int>();
      s.image_index = j.at("image_index").get<int>();
      s.score = j.at("score").get<double>();
    } catch (const nlohmann::json::exception& e) {
      throw_user_error(
          "{}:{}: needs category (string), pair_id, prompt_index, image_index "
          "(0 or 1) and score (number): {}",
          path, number, e.what());
    }
    scores.push_back(std::move(s));
  }
  return scores;
}

PairCompResult paircomp(const std::vector<PairCompScore>& scores, const std::string& source) {
  // category -> pair -> 2×2 scores (NaN = not seen yet)
  std::map<std::string, std::map<std::string, std::array<double, 4>>> pairs;
  for (const auto& s : scores) {
    if ((s.prompt_index != 0 && s.prompt_index != 1) ||
        (s.image_index != 0 && s.image_index != 1)) {
      throw_user_error("{}: pair '{}' ({}): prompt_index and image_index must be 0 or 1", source,
                       s.pair_id, s.category);
    }
    if (!std::isfinite(s.score) || s.score < 0) {
      throw_user_error("{}: pair '{}' ({}): score {} must be a finite number >= 0", source,
                       s.pair_id, s.category, s.score);
    }
    auto [it, fresh] = pairs[s.category].try_emplace(s.pair_id);
    if (fresh) it->second.fill(std::nan(""));
    double& slot = it->second[s.prompt_index * 2 + s.image_index];
    if (!std::isnan(slot)) {
      throw_user_error("{}: pair '{}' ({}): prompt {} image {} scored twice", source, s.pair_id,
                       s.category, s.prompt_index, s.image_index);
    }
    slot = s.score;
  }
  if (pairs.empty()) throw_user_error("{}: no PairComp scores", source);
  PairCompResult result;
  for (const auto& [category, by_pair] : pairs) {
    PairCompCategory c;
    for (const auto& [id, four] : by_pair) {
      double sum = 0, log_sum = 0;
      bool has_zero = false;
      for (int k = 0; k < 4; ++k) {
        if (std::isnan(four[k])) {
          throw_user_error("{}: pair '{}' ({}) has no score for prompt {} image {}", source, id,
                           category, k / 2, k % 2);
        }
        sum += four[k];
        if (four[k] == 0)
          has_zero = true;
        else
          log_sum += std::log(four[k]);
      }
      c.s_a += sum / 4;
      c.s_g += has_zero ? 0.0 : std::exp(log_sum / 4);
      ++c.pairs;
    }
    c.s_a /= static_cast<double>(c.pairs);
    c.s_g /= static_cast<double>(c.pairs);
    result.s_a += c.s_a;
    result.s_g += c.s_g;
    result.categories[category] = c;
  }
  result.s_a /= static_cast<double>(result.categories.size());
  result.s_g /= static_cast<double>(result.categories.size());
  return result;
}

}  // namespace tokenfocus::ensemble
