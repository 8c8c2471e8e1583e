// The backbones' chat templates for one VQA turn (image first, then the question), built as token
// ids with the image placeholder expanded to the exact number of image tokens.
//   Qwen2-VL / Qwen2.5-VL (Hugging Face chat_template, default system message):
//     <|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n
//     <|vision_start|><|image_pad|>xN<|vision_end|>{question}<|im_end|>\n<|im_start|>assistant\n
//   InternVL2.5 (OpenGVLab conversation template "internvl2_5", as chat() fills it):
//     <|im_start|>system\n{InternVL system message}<|im_end|>\n<|im_start|>user\n
//     <img><IMG_CONTEXT>xN</img>\n{question}<|im_end|>\n<|im_start|>assistant\n
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "data/tokenizer.h"

namespace tokenfocus::data {

enum class ChatTemplateKind { kQwen2VL, kInternVL2_5 };

// qwen2_vl, qwen2_5_vl -> kQwen2VL; internvl_chat -> kInternVL2_5; UserError otherwise.
ChatTemplateKind chat_template_for_model_type(const std::string& model_type);

struct VqaSequence {
  std::vector<int64_t> input_ids;
  // The hidden state here predicts the answer's first token: the last token of the assistant
  // prefix.
  int64_t query_position = 0;
};

// The system turn: unset = the template's own default message (what Hugging Face / OpenGVLab
// write); a text = that message; "" = no system turn at all (tiny models trained from scratch
// need not read a fixed preamble on every sequence).
using SystemMessage = std::optional<std::string>;

// One user turn holding the image (num_image_tokens placeholder tokens; 0 = text-only, no image
// block at all) and `question`, followed by the assistant prefix. The question is tokenised as
// the template's text around it would be by Hugging Face (added tokens inside it are matched).
// UserError naming the tokenizer when one of the template's special tokens is missing.
VqaSequence build_vqa_sequence(const Tokenizer& tokenizer, ChatTemplateKind kind,
                               std::string_view question, int64_t num_image_tokens,
                               const SystemMessage& system_message = std::nullopt);

// The same turn as text, image placeholder repeated num_image_tokens times (for display and tests).
std::string render_vqa_prompt(ChatTemplateKind kind, std::string_view question,
                              int64_t num_image_tokens,
                              const SystemMessage& system_message = std::nullopt);

// The fixed text of a template (system turn, role names) with an empty question and no image: what
// a tokenizer for the tiny models learns its merges from, next to the questions.
std::string template_text(ChatTemplateKind kind, const SystemMessage& system_message);

// Replaces every "{placeholder}" in the template by value, e.g. fill_question(q, "prompt", p).
// UserError when the template does not contain "{placeholder}".
std::string fill_question(std::string_view question_template, std::string_view placeholder,
                          std::string_view value);

// The system message of the internvl2_5 template (OpenGVLab InternVL conversation.py).
extern const char* const kInternVL2_5SystemMessage;

}  // namespace tokenfocus::data
