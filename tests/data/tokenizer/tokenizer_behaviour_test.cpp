// Tokenizer behaviour beyond the golden file: parity with the Rust library on generated strings,
// round trips, added tokens, the whitespace class, thread safety.
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "data/tokenizer.h"
#include "data/tokenizer_pretokenizer.h"
#include "data/tokenizer_unicode.h"
#include "golden_tokenizer.h"

namespace tokenfocus::data {
namespace {

const Tokenizer& qwen() {
  return testing::qwen_tokenizer();
}

struct Case {
  std::string text;
  std::vector<int64_t> ids;
};

// 641 generated strings whose ids were produced by Hugging Face's Rust `tokenizers` (npm
// @anush008/tokenizers 0.6.0, encode(text, null, {addSpecialTokens:false})) on the golden
// tokenizer.json: 308 realistic mixes (letters, digits, punctuation, contractions, every Unicode
// space incl. U+180E / U+0085 / U+2028, combining marks, Hangul jamo, CJK, emoji with ZWJ, whole
// and broken added tokens), 199 strings of random code points from every plane, 134 strings dense
// in characters assigned after Unicode 9.0 and combining marks. See docs/formats/tokenizer.md.
std::vector<Case> rust_cases() {
  std::ifstream in("tests/data/tokenizer/rust_tokenizers_fuzz_cases.jsonl");
  std::vector<Case> cases;
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    cases.push_back({j.at("text").get<std::string>(), j.at("ids").get<std::vector<int64_t>>()});
  }
  if (cases.size() != 641u) ADD_FAILURE() << "rust_tokenizers_fuzz_cases.jsonl missing or changed";
  return cases;
}

TEST(TokenizerBehaviour, GeneratedStringsMatchRustTokenizers) {
  const auto cases = rust_cases();
  ASSERT_EQ(cases.size(), 641u);
  size_t exact = 0;
  for (const auto& c : cases) {
    const auto ids = qwen().encode(c.text);
    EXPECT_EQ(ids, c.ids) << nlohmann::json(c.text).dump();
    exact += ids == c.ids;
  }
  std::printf("[rust parity] %zu/%zu generated cases exact\n", exact, cases.size());
}

TEST(TokenizerBehaviour, DecodeRoundTripIsNfc) {
  for (const auto& c : rust_cases()) {
    EXPECT_EQ(qwen().decode(qwen().encode(c.text)), unicode::nfc(c.text))
        << nlohmann::json(c.text).dump();
  }
  // NFC composes "e" + U+0301 into U+00E9 before BPE.
  EXPECT_EQ(qwen().encode("caf\u00e9"), qwen().encode("cafe\u0301"));
  EXPECT_EQ(qwen().decode(qwen().encode("cafe\u0301")), "caf\u00e9");
}

TEST(TokenizerBehaviour, NfcUsesUnicode9TablesAsHuggingFace) {
  // U+0651 (class 33) before U+0300 (class 230) stays, U+0300 before U+0651 is reordered ...
  EXPECT_EQ(unicode::nfc("q\u0300\u0651"), "q\u0651\u0300");
  // ... but U+1AC7 (Unicode 14, class 230) is unknown to Unicode 9.0: nothing moves across it.
  EXPECT_EQ(unicode::nfc("a\u1ac7\u0651"), "a\u1ac7\u0651");
  EXPECT_EQ(unicode::nfc("e\u0301\U00010F4D\u035B"), "\u00e9\U00010F4D\u035B");
}

TEST(TokenizerBehaviour, AddedTokensAreMatchedWholeAndNeverSplit) {
  const int64_t im_start = *qwen().token_id("<|im_start|>");
  const int64_t image_pad = *qwen().token_id("<|image_pad|>");
  auto ids = qwen().encode("<|im_start|>user<|image_pad|><|image_pad|>");
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_EQ(ids[0], im_start);
  EXPECT_EQ(ids[1], qwen().encode("user").at(0));
  EXPECT_EQ(ids[2], image_pad);
  EXPECT_EQ(ids[3], image_pad);
  // A broken one is ordinary text.
  ids = qwen().encode("<|im_start");
  EXPECT_GT(ids.size(), 1u);
  EXPECT_EQ(qwen().decode(ids), "<|im_start");
  // Non-special added tokens (<think>) are matched too, as Hugging Face does.
  EXPECT_EQ(qwen().encode("<think>"), std::vector<int64_t>{151667});
  EXPECT_EQ(qwen().decode({151644, 872, 198}), "<|im_start|>user\n");
}

TEST(TokenizerBehaviour, DigitsAreSplitOneByOne) {
  const auto ids = qwen().encode("12345");
  ASSERT_EQ(ids.size(), 5u);
  for (int d = 0; d < 5; ++d) EXPECT_EQ(ids[d], qwen().encode(std::to_string(d + 1)).at(0));
}

TEST(TokenizerBehaviour, EmptyAndInvalidText) {
  EXPECT_TRUE(qwen().encode("").empty());
  EXPECT_EQ(qwen().decode({}), "");
  try {
    qwen().encode("ok \xff\xfe");
    FAIL() << "invalid UTF-8 accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("not valid UTF-8 (byte 3"), std::string::npos) << e.what();
  }
  try {
    qwen().decode({9707, 999999});
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot decode id 999999 (position 1)"), std::string::npos)
        << e.what();
  }
}

TEST(TokenizerBehaviour, DecodeOfPartialUtf8IsLossy) {
  const auto ids = qwen().encode("\xe4\xb8\xad");  // one CJK character
  // Decoding a prefix of its bytes gives U+FFFD, as Rust's from_utf8_lossy does.
  EXPECT_EQ(unicode::from_utf8_lossy("\xe4\xb8"), "\xef\xbf\xbd");
  EXPECT_EQ(unicode::from_utf8_lossy("a\xff"
                                     "b"),
            "a\xef\xbf\xbd"
            "b");
  EXPECT_EQ(unicode::from_utf8_lossy("\xf0\x9f\x98"), "\xef\xbf\xbd");
  EXPECT_EQ(unicode::from_utf8_lossy("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(qwen().decode(ids), "\xe4\xb8\xad");
}

TEST(TokenizerBehaviour, WhitespaceClassIsOniguruma) {
  EXPECT_EQ(pattern_with_oniguruma_whitespace(R"(\s+(?!\S)|[^\s\p{Lu}]|\\s)"),
            R"([\t-\r\x{85}\p{Z}]+(?![^\t-\r\x{85}\p{Z}])|[^\t-\r\x{85}\p{Z}\p{Lu}]|\\s)");
  // \p{L} / \p{N} gain the letters and numbers of Unicode 15.0 that PCRE2 10.42 lacks.
  const std::string letters = pattern_with_oniguruma_whitespace(R"(\p{L}|[^\p{N}])");
  EXPECT_EQ(letters.rfind(R"([\p{L}\x{1123F}-\x{11240})", 0), 0u) << letters;
  EXPECT_NE(letters.find(R"(|[^\p{N}\x{)"), std::string::npos) << letters;
  // U+180E is white space for PCRE2's \s but not for Oniguruma: it must stay with the letters'
  // "other" class, not be split like a space.
  const SplitPattern split(R"(\s+|\S+)", "test");
  std::vector<std::string_view> pieces;
  split.split("a\u180eb c", pieces);
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_EQ(pieces[0], "a\u180eb");
}

TEST(TokenizerBehaviour, ConcurrentEncodeIsConsistent) {
  const auto cases = rust_cases();
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) {
        for (size_t i = t; i < cases.size(); i += 1 + t % 2) {
          if (qwen().encode(cases[i].text) != cases[i].ids) ++mismatches[t];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace tokenfocus::data
