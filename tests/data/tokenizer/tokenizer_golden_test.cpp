// Parity with the Hugging Face Rust tokenizers library: every case of
// ../shared/golden/tokenizer/tokenizer_cases.jsonl must give exactly the same ids.
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "data/tokenizer.h"
#include "data/tokenizer_unicode.h"
#include "golden_tokenizer.h"

namespace tokenfocus::data {
namespace {

constexpr const char* kGoldenDir = "../shared/golden/tokenizer";

struct GoldenCase {
  std::string text;
  std::vector<int64_t> ids;
};

std::vector<GoldenCase> load_cases() {
  std::ifstream in(std::string(kGoldenDir) + "/tokenizer_cases.jsonl");
  std::vector<GoldenCase> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    cases.push_back({j.at("text").get<std::string>(), j.at("ids").get<std::vector<int64_t>>()});
  }
  return cases;
}

const Tokenizer& qwen() {
  return testing::qwen_tokenizer();
}

std::string show(const std::vector<int64_t>& ids) {
  std::string s;
  for (int64_t id : ids) s += std::to_string(id) + " ";
  return s;
}

TEST(TokenizerGolden, EveryCaseMatchesHuggingFace) {
  const auto cases = load_cases();
  ASSERT_EQ(cases.size(), 210u) << "golden file missing or changed";
  size_t exact = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto ids = qwen().encode(cases[i].text);
    if (ids == cases[i].ids) {
      ++exact;
    } else {
      ADD_FAILURE() << "case " << i << " text=" << nlohmann::json(cases[i].text).dump()
                    << "\n  expected " << show(cases[i].ids) << "\n  got      " << show(ids);
    }
  }
  EXPECT_EQ(exact, cases.size());
  std::printf("[golden] %zu/%zu tokenizer cases exact\n", exact, cases.size());
}

TEST(TokenizerGolden, DecodeOfGoldenIdsIsTheNormalisedText) {
  for (const auto& c : load_cases()) {
    EXPECT_EQ(qwen().decode(c.ids), unicode::nfc(c.text)) << nlohmann::json(c.text).dump();
  }
}

TEST(TokenizerGolden, SpecialIdsAndVocabSize) {
  EXPECT_EQ(qwen().token_id("<|endoftext|>"), 151643);
  EXPECT_EQ(qwen().token_id("<|im_start|>"), 151644);
  EXPECT_EQ(qwen().token_id("<|im_end|>"), 151645);
  EXPECT_EQ(qwen().token_id("<|vision_start|>"), 151652);
  EXPECT_EQ(qwen().token_id("<|vision_end|>"), 151653);
  EXPECT_EQ(qwen().token_id("<|image_pad|>"), 151655);
  EXPECT_EQ(qwen().token_id("<|video_pad|>"), 151656);
  EXPECT_EQ(qwen().token_id("<think>"), 151667);
  EXPECT_EQ(qwen().vocab_size(), 151669);
  EXPECT_FALSE(qwen().token_id("definitely not a token").has_value());
  // The vocabulary stores the byte-mapped form: " yes" is "Ġyes".
  EXPECT_EQ(qwen().token_id("Ġyes"), qwen().encode(" yes").at(0));
}

}  // namespace
}  // namespace tokenfocus::data
