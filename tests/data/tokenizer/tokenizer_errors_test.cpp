// Malformed or unsupported tokenizer.json files: one UserError naming the file and the key.
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "data/tokenizer.h"

namespace tokenfocus::data {
namespace {

using nlohmann::json;

// A minimal valid byte-level BPE: the bytes "a", "b", "Ġ" and the merge "a b".
json minimal() {
  return json::parse(R"({
    "added_tokens": [{"id": 4, "content": "<s>", "special": true, "normalized": false}],
    "normalizer": {"type": "NFC"},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": " ?\\p{L}+|\\s+"}, "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "dropout": null, "unk_token": null, "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3},
              "merges": ["a b"]}})");
}

std::string error_of(const json& j) {
  try {
    Tokenizer::from_json_text(j.dump(), "bad/tokenizer.json");
  } catch (const UserError& e) {
    return e.what();
  }
  return "no error";
}

#define EXPECT_ERROR(json_value, text)                                           \
  do {                                                                           \
    const std::string message = error_of(json_value);                            \
    EXPECT_NE(message.find("bad/tokenizer.json"), std::string::npos) << message; \
    EXPECT_NE(message.find(text), std::string::npos) << message;                 \
  } while (0)

TEST(TokenizerErrors, MinimalFileLoadsAndEncodes) {
  const auto t = Tokenizer::from_json_text(minimal().dump(), "mini");
  EXPECT_EQ(t.encode("ab ab<s>"), (std::vector<int64_t>{2, 3, 2, 4}));
  EXPECT_EQ(t.decode({2, 3, 2, 4}), "ab ab<s>");
  EXPECT_EQ(t.vocab_size(), 5);
  // Merges as ["a", "b"] pairs (the newer format) read the same.
  json pairs = minimal();
  pairs["model"]["merges"] = json::array({json::array({"a", "b"})});
  EXPECT_EQ(Tokenizer::from_json_text(pairs.dump(), "pairs").encode("ab ab"),
            (std::vector<int64_t>{2, 3, 2}));
}

TEST(TokenizerErrors, NotJson) {
  try {
    Tokenizer::from_json_text("{\"model\": ", "bad/tokenizer.json");
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("bad/tokenizer.json: not valid JSON"), std::string::npos)
        << e.what();
  }
}

TEST(TokenizerErrors, MissingFile) {
  try {
    Tokenizer::from_file("/nonexistent/tokenizer.json");
    FAIL();
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()), "/nonexistent/tokenizer.json: cannot open the tokenizer file");
  }
}

TEST(TokenizerErrors, MissingFields) {
  json j = minimal();
  j.erase("model");
  EXPECT_ERROR(j, "missing key \"model\"");
  j = minimal();
  j["model"].erase("merges");
  EXPECT_ERROR(j, "missing key \"model.merges\"");
  j = minimal();
  j["model"].erase("vocab");
  EXPECT_ERROR(j, "missing key \"model.vocab\"");
  j = minimal();
  j["added_tokens"][0].erase("content");
  EXPECT_ERROR(j, "missing key \"added_tokens[0].content\"");
}

TEST(TokenizerErrors, BadValues) {
  json j = minimal();
  j["model"]["vocab"]["a"] = "zero";
  EXPECT_ERROR(j, "model.vocab[\"a\"] must be an integer id");
  j = minimal();
  j["model"]["merges"] = json::array({"a b c"});
  EXPECT_ERROR(j, "model.merges[0] = \"a b c\" is not two tokens separated by one space");
  j = minimal();
  j["model"]["merges"] = json::array({"a Ġ"});
  EXPECT_ERROR(j, "model.merges[0] (\"a\" \"Ġ\") uses \"aĠ\", which is not in model.vocab");
  j = minimal();
  j["model"]["vocab"]["b"] = 0;
  EXPECT_ERROR(j, "model.vocab gives id 0 to both");
  j = minimal();
  j["model"]["vocab"] = json::array({"a"});
  EXPECT_ERROR(j, "\"model.vocab\" must be an object");
  j = minimal();
  j["model"]["merges"] = {{"a", "b"}};
  EXPECT_ERROR(j, "\"model.merges\" must be a list");
  j = minimal();
  j["model"]["merges"] = json::array({json::array({"a", "b", "c"})});
  EXPECT_ERROR(j, "model.merges[0] must be \"a b\" or [\"a\", \"b\"], got a list of 3");
  j = minimal();
  j["model"]["merges"] = json::array({json::array({"a", "b"}), 7});
  EXPECT_ERROR(j, "model.merges[1] must be \"a b\" or [\"a\", \"b\"], got 7");
  j = minimal();
  j["added_tokens"][0]["id"] = -3;
  EXPECT_ERROR(j, "added_tokens[0].id must be a non-negative integer");
}

TEST(TokenizerErrors, UnsupportedComponents) {
  json j = minimal();
  j["model"]["type"] = "WordPiece";
  EXPECT_ERROR(j, "model.type is \"WordPiece\"; only BPE");
  j = minimal();
  j["normalizer"] = {{"type", "NFKC"}};
  EXPECT_ERROR(j, "normalizer type \"NFKC\" is not supported");
  j = minimal();
  j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed";
  EXPECT_ERROR(j, "pre_tokenizer.pretokenizers[0].behavior \"Removed\" is not supported");
  j = minimal();
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  EXPECT_ERROR(j, "pre_tokenizer type \"Whitespace\" is not supported");
  j = minimal();
  j["pre_tokenizer"]["pretokenizers"].erase(1);
  EXPECT_ERROR(j, "has no ByteLevel step");
  j = minimal();
  j["decoder"] = {{"type", "WordPiece"}};
  EXPECT_ERROR(j, "decoder type \"WordPiece\" is not supported");
  j = minimal();
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  EXPECT_ERROR(j, "pre_tokenizer.pretokenizers[0].pattern: the split regex does not compile");
}

}  // namespace
}  // namespace tokenfocus::data
