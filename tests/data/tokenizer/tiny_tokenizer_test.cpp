// The tiny tokenizer: valid Hugging Face format with Qwen's structure, required single tokens,
// special tokens at the top ids, learned whole words, round trip, determinism.
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "data/tiny_tokenizer.h"
#include "data/tokenizer.h"
#include "data/tokenizer_unicode.h"

namespace tokenfocus::data {
namespace {

const std::vector<std::string> kCorpus = {
    "a red circle to the left of two blue squares", "three green triangles above a yellow star",
    "Does this image match the description \"a red circle\"? Rate the match from 1 (not at all) to "
    "5 (perfectly). Answer with one digit.",
    "Does this image show \"red circle (color)\"? Answer yes or no."};

TEST(TinyTokenizer, LoadsWithRequiredTokensAndSpecialIds) {
  const auto t = Tokenizer::from_json_text(make_tiny_tokenizer_json(kCorpus, 512), "tiny");
  EXPECT_EQ(t.vocab_size(), 512);
  for (size_t i = 0; i < kTinySpecialTokens.size(); ++i) {
    EXPECT_EQ(t.token_id(kTinySpecialTokens[i]), static_cast<int64_t>(502 + i))
        << kTinySpecialTokens[i];
  }
  for (const char* word : {"1", "2", "3", "4", "5", "yes", "no", "Yes", "No"}) {
    EXPECT_EQ(t.encode(word).size(), 1u) << word;
  }
  // Frequent corpus words are whole tokens (with their leading space, as in Qwen's vocabulary).
  for (const char* word : {" red", " circle", "Does", " image", " Answer"}) {
    EXPECT_EQ(t.encode(word).size(), 1u) << word;
  }
}

TEST(TinyTokenizer, RoundTripIsNfc) {
  const auto t = Tokenizer::from_json_text(make_tiny_tokenizer_json(kCorpus, 400), "tiny");
  for (const std::string& text :
       {std::string("a red circle"),
        std::string("unseen words, 日本語 and e\u0301mojis 👍🏽!"),
        std::string("<|im_start|>user\n<|image_pad|><|image_pad|>x<|im_end|>\n"),
        std::string("\t\r\n  spaces  ")}) {
    EXPECT_EQ(t.decode(t.encode(text)), unicode::nfc(text));
  }
}

TEST(TinyTokenizer, SameStructureAsQwen) {
  const auto tiny = nlohmann::json::parse(make_tiny_tokenizer_json(kCorpus, 512));
  std::ifstream in("../shared/golden/tokenizer/tokenizer.json");
  const auto qwen = nlohmann::json::parse(in);
  for (const char* key : {"normalizer", "pre_tokenizer", "decoder", "post_processor"}) {
    EXPECT_EQ(tiny.at(key), qwen.at(key)) << key;
  }
  EXPECT_EQ(tiny["model"]["type"], "BPE");
  EXPECT_EQ(tiny["model"]["vocab"].size() + tiny["added_tokens"].size(), 512u);
}

TEST(TinyTokenizer, Deterministic) {
  EXPECT_EQ(make_tiny_tokenizer_json(kCorpus, 512), make_tiny_tokenizer_json(kCorpus, 512));
}

TEST(TinyTokenizer, SmallCorpusGetsFillersAndStillEndsAtTheTop) {
  const auto t = Tokenizer::from_json_text(make_tiny_tokenizer_json({"ab"}, 300), "tiny");
  EXPECT_EQ(t.vocab_size(), 300);
  EXPECT_EQ(t.token_id("<IMG_CONTEXT>"), 299);
  EXPECT_EQ(t.token_id("<|endoftext|>"), 290);
  EXPECT_EQ(t.encode("ab").size(), 1u);
}

TEST(TinyTokenizer, TooSmallVocabIsAnError) {
  try {
    make_tiny_tokenizer_json(kCorpus, 200);
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("vocab_size 200 is too small (at least 291"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace tokenfocus::data
