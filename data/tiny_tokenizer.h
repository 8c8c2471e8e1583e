// A small byte-level BPE tokenizer.json for the project's tiny models (demo, tests), in the same
// Hugging Face format and with the same normalizer / pre-tokenizer / decoder as Qwen2's, so it
// loads through data::Tokenizer and through Hugging Face `tokenizers` alike.
//
// Ids: 0..255 are the 256 byte tokens (in byte order), then the learned merges in rank order, then
// (if the corpus runs out of pairs) unreachable filler tokens "<unused_k>", and the last
// kTinySpecialTokens.size() ids, ending at vocab_size - 1, are the special tokens in the order of
// kTinySpecialTokens (vocab_size 512: <|endoftext|> = 502 ... <IMG_CONTEXT> = 511).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace tokenfocus::data {

inline constexpr std::array<const char*, 10> kTinySpecialTokens = {
    "<|endoftext|>", "<|im_start|>",  "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|image_pad|>", "<|video_pad|>", "<img>",      "</img>",           "<IMG_CONTEXT>"};

// Words that are always single tokens (the default label sets, and Q-Align's rating words for
// `overall_labels` as words): merged first, before learning.
inline constexpr std::array<const char*, 9> kTinyRequiredWords = {
    "yes", "no", "Yes", "No", "bad", "poor", "fair", "good", "excellent"};

// Learns merges from the corpus (most frequent adjacent pair first, ties broken by the pair's
// text) until the vocabulary is full or every corpus word is one token. Deterministic.
// UserError when vocab_size leaves no room for the bytes, the required words and the specials.
std::string make_tiny_tokenizer_json(const std::vector<std::string>& corpus, int64_t vocab_size);

}  // namespace tokenfocus::data
