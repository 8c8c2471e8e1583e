// Parity with the installed Rust `tokenizers` library (.venv, tokenizers_reference.py): the golden
// strings and 2,000 random texts mixing scripts, marks, digits, emoji, whitespace and special
// tokens must give exactly the same ids. Exact: a tokenizer has no tolerance.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "golden_tokenizer.h"

namespace tokenfocus::data {
namespace {

constexpr int kRandomTexts = 2000;

TEST(TokenizerLive, GoldenAndRandomUnicodeTextsMatchRustTokenizers) {
  const std::string golden = "../shared/golden/tokenizer";
  const std::string out = (std::filesystem::temp_directory_path() /
                           ("tokenfocus_tokenizers_" + std::to_string(::getpid()) + ".jsonl"))
                              .string();
  const std::string command =
      std::string(TOKENFOCUS_REFERENCE_PYTHON) + " " + TOKENFOCUS_SOURCE_DIR +
      "/tests/data/tokenizer/tokenizers_reference.py " + golden + "/tokenizer.json " + golden +
      "/tokenizer_cases.jsonl 11 " + std::to_string(kRandomTexts) + " " + out;
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  std::ifstream in(out);
  std::string line;
  size_t total = 0, exact = 0;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    const std::string text = j.at("text").get<std::string>();
    const auto expected = j.at("ids").get<std::vector<int64_t>>();
    const auto ids = testing::qwen_tokenizer().encode(text);
    ++total;
    if (ids == expected)
      ++exact;
    else if (total - exact <= 10)
      ADD_FAILURE() << "text " << nlohmann::json(text).dump() << ": " << ids.size() << " ids here, "
                    << expected.size() << " from tokenizers";
  }
  std::filesystem::remove(out);
  EXPECT_EQ(total, 210u + kRandomTexts);
  EXPECT_EQ(exact, total);
  std::printf("[ figures  ] %zu/%zu texts tokenised exactly as tokenizers does\n", exact, total);
}

}  // namespace
}  // namespace tokenfocus::data
