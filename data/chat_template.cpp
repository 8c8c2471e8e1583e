#include "data/chat_template.h"

#include "common/error.h"

namespace tokenfocus::data {

const char* const kInternVL2_5SystemMessage =
    "你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的多模"
    "态"
    "大语言模型。";

namespace {

constexpr const char* kQwenSystemMessage = "You are a helpful assistant.";

// A template is text with three holes: [head][image block][between][question][tail].
struct TemplateParts {
  std::string head;         // everything before the image block
  std::string image_open;   // e.g. "<|vision_start|>"
  std::string image_token;  // repeated num_image_tokens times
  std::string image_close;  // e.g. "<|vision_end|>" or "</img>\n"
  std::string tail;         // after the question: end of user turn + assistant prefix
  std::vector<std::string> special_tokens;  // must exist in the tokenizer
};

std::string head(const SystemMessage& chosen, const char* default_message) {
  const std::string message = chosen.value_or(default_message);
  const std::string user = "<|im_start|>user\n";
  if (message.empty()) return user;
  return "<|im_start|>system\n" + message + "<|im_end|>\n" + user;
}

TemplateParts parts_of(ChatTemplateKind kind, const SystemMessage& system_message) {
  switch (kind) {
    case ChatTemplateKind::kQwen2VL:
      return {
          head(system_message, kQwenSystemMessage),
          "<|vision_start|>",
          "<|image_pad|>",
          "<|vision_end|>",
          "<|im_end|>\n<|im_start|>assistant\n",
          {"<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|image_pad|>", "<|vision_end|>"}};
    case ChatTemplateKind::kInternVL2_5:
      // chat() prepends "<image>\n" to the question, then expands <image> to <img>...</img>.
      return {head(system_message, kInternVL2_5SystemMessage),
              "<img>",
              "<IMG_CONTEXT>",
              "</img>\n",
              "<|im_end|>\n<|im_start|>assistant\n",
              {"<|im_start|>", "<|im_end|>", "<img>", "<IMG_CONTEXT>", "</img>"}};
  }
  throw_internal_error("unknown chat template kind {}", static_cast<int>(kind));
}

const char* template_name(ChatTemplateKind kind) {
  return kind == ChatTemplateKind::kQwen2VL ? "Qwen2-VL" : "InternVL2.5";
}

void append(std::vector<int64_t>& ids, const std::vector<int64_t>& more) {
  ids.insert(ids.end(), more.begin(), more.end());
}

}  // namespace

ChatTemplateKind chat_template_for_model_type(const std::string& model_type) {
  if (model_type == "qwen2_vl" || model_type == "qwen2_5_vl") return ChatTemplateKind::kQwen2VL;
  if (model_type == "internvl_chat") return ChatTemplateKind::kInternVL2_5;
  throw_user_error(
      "no chat template for model_type \"{}\" (known: qwen2_vl, qwen2_5_vl, "
      "internvl_chat)",
      model_type);
}

std::string render_vqa_prompt(ChatTemplateKind kind, std::string_view question,
                              int64_t num_image_tokens, const SystemMessage& system_message) {
  const TemplateParts parts = parts_of(kind, system_message);
  std::string text = parts.head;
  if (num_image_tokens > 0) {
    text += parts.image_open;
    for (int64_t i = 0; i < num_image_tokens; ++i) text += parts.image_token;
    text += parts.image_close;
  }
  text += question;
  text += parts.tail;
  return text;
}

std::string template_text(ChatTemplateKind kind, const SystemMessage& system_message) {
  return render_vqa_prompt(kind, "", 0, system_message);
}

VqaSequence build_vqa_sequence(const Tokenizer& tokenizer, ChatTemplateKind kind,
                               std::string_view question, int64_t num_image_tokens,
                               const SystemMessage& system_message) {
  if (num_image_tokens < 0)
    throw_user_error("num_image_tokens must be >= 0, got {}", num_image_tokens);
  const TemplateParts parts = parts_of(kind, system_message);
  for (const std::string& token : parts.special_tokens) {
    if (!tokenizer.token_id(token)) {
      throw_user_error(
          "{}: the {} chat template needs the token \"{}\", which this tokenizer "
          "does not have",
          tokenizer.name(), template_name(kind), token);
    }
  }
  // Added tokens always split the text, so the rendered prompt can be tokenised in two parts around
  // the run of image tokens (which would otherwise be scanned N times) with identical ids.
  VqaSequence sequence;
  if (num_image_tokens == 0) {
    sequence.input_ids = tokenizer.encode(render_vqa_prompt(kind, question, 0, system_message));
  } else {
    sequence.input_ids = tokenizer.encode(parts.head + parts.image_open);
    const int64_t image_token = *tokenizer.token_id(parts.image_token);
    sequence.input_ids.insert(sequence.input_ids.end(), static_cast<size_t>(num_image_tokens),
                              image_token);
    append(sequence.input_ids,
           tokenizer.encode(parts.image_close + std::string(question) + parts.tail));
  }
  sequence.query_position = static_cast<int64_t>(sequence.input_ids.size()) - 1;
  return sequence;
}

std::string fill_question(std::string_view question_template, std::string_view placeholder,
                          std::string_view value) {
  const std::string hole = "{" + std::string(placeholder) + "}";
  std::string out;
  size_t pos = 0;
  bool found = false;
  while (true) {
    const size_t at = question_template.find(hole, pos);
    if (at == std::string_view::npos) break;
    out.append(question_template.substr(pos, at - pos));
    out.append(value);
    pos = at + hole.size();
    found = true;
  }
  if (!found) {
    throw_user_error("the question template \"{}\" has no {} placeholder", question_template, hole);
  }
  out.append(question_template.substr(pos));
  return out;
}

}  // namespace tokenfocus::data
