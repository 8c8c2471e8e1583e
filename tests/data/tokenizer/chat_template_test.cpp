// Chat templates: exact decoded strings, image placeholder counts, query position, and that the
// piecewise tokenisation equals tokenising the whole rendered prompt.
#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "common/error.h"
#include "data/chat_template.h"
#include "data/tiny_tokenizer.h"
#include "data/tokenizer.h"
#include "golden_tokenizer.h"

namespace tokenfocus::data {
namespace {

const Tokenizer& qwen() {
  return testing::qwen_tokenizer();
}

const Tokenizer& tiny() {
  static const Tokenizer tokenizer =
      Tokenizer::from_json_text(make_tiny_tokenizer_json({"Is it red?", "a red car"}, 512), "tiny");
  return tokenizer;
}

TEST(ChatTemplate, ModelTypes) {
  EXPECT_EQ(chat_template_for_model_type("qwen2_vl"), ChatTemplateKind::kQwen2VL);
  EXPECT_EQ(chat_template_for_model_type("qwen2_5_vl"), ChatTemplateKind::kQwen2VL);
  EXPECT_EQ(chat_template_for_model_type("internvl_chat"), ChatTemplateKind::kInternVL2_5);
  try {
    chat_template_for_model_type("llava");
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("no chat template for model_type \"llava\""),
              std::string::npos);
  }
}

TEST(ChatTemplate, Qwen2VLWithImage) {
  const auto seq = build_vqa_sequence(qwen(), ChatTemplateKind::kQwen2VL, "Is it red?", 3);
  EXPECT_EQ(qwen().decode(seq.input_ids),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
            "<|vision_start|><|image_pad|><|image_pad|><|image_pad|><|vision_end|>Is it red?"
            "<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(std::count(seq.input_ids.begin(), seq.input_ids.end(), 151655), 3);
  EXPECT_EQ(seq.query_position, static_cast<int64_t>(seq.input_ids.size()) - 1);
  EXPECT_EQ(seq.input_ids[seq.query_position], qwen().encode("\n").at(0));
  EXPECT_EQ(seq.input_ids[seq.query_position - 1], qwen().encode("assistant").at(0));
  // Same ids as tokenising the whole rendered prompt at once.
  EXPECT_EQ(seq.input_ids,
            qwen().encode(render_vqa_prompt(ChatTemplateKind::kQwen2VL, "Is it red?", 3)));
}

TEST(ChatTemplate, SystemMessageChoice) {
  // A message of the user's replaces the default; "" drops the system turn; both templates.
  const auto custom =
      build_vqa_sequence(qwen(), ChatTemplateKind::kQwen2VL, "Is it red?", 1, "Be brief.");
  EXPECT_EQ(qwen().decode(custom.input_ids),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n"
            "<|vision_start|><|image_pad|><|vision_end|>Is it red?<|im_end|>\n"
            "<|im_start|>assistant\n");
  const auto none = build_vqa_sequence(qwen(), ChatTemplateKind::kQwen2VL, "Is it red?", 1, "");
  EXPECT_EQ(qwen().decode(none.input_ids),
            "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Is it red?<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(none.query_position, static_cast<int64_t>(none.input_ids.size()) - 1);
  EXPECT_EQ(render_vqa_prompt(ChatTemplateKind::kInternVL2_5, "Q", 1, ""),
            "<|im_start|>user\n<img><IMG_CONTEXT></img>\nQ<|im_end|>\n<|im_start|>assistant\n");
  // Unset = the default, as before.
  EXPECT_EQ(build_vqa_sequence(qwen(), ChatTemplateKind::kQwen2VL, "Is it red?", 1, std::nullopt)
                .input_ids,
            build_vqa_sequence(qwen(), ChatTemplateKind::kQwen2VL, "Is it red?", 1).input_ids);
  EXPECT_EQ(template_text(ChatTemplateKind::kQwen2VL, ""),
            "<|im_start|>user\n<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplate, Qwen2VLTextOnlyHasNoImageBlock) {
  const std::string question = "\n  Leading newline and spaces?";
  const auto seq = build_vqa_sequence(qwen(), ChatTemplateKind::kQwen2VL, question, 0);
  EXPECT_EQ(qwen().decode(seq.input_ids),
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n" +
                question + "<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(std::count(seq.input_ids.begin(), seq.input_ids.end(), 151652), 0);
}

TEST(ChatTemplate, InternVL2_5WithImage) {
  const auto seq = build_vqa_sequence(tiny(), ChatTemplateKind::kInternVL2_5, "Is it red?", 2);
  EXPECT_EQ(tiny().decode(seq.input_ids),
            std::string("<|im_start|>system\n") + kInternVL2_5SystemMessage +
                "<|im_end|>\n<|im_start|>user\n<img><IMG_CONTEXT><IMG_CONTEXT></img>\nIs it red?"
                "<|im_end|>\n<|im_start|>assistant\n");
  const int64_t context = *tiny().token_id("<IMG_CONTEXT>");
  EXPECT_EQ(context, 511);
  EXPECT_EQ(std::count(seq.input_ids.begin(), seq.input_ids.end(), context), 2);
  EXPECT_EQ(seq.query_position, static_cast<int64_t>(seq.input_ids.size()) - 1);
  EXPECT_EQ(seq.input_ids,
            tiny().encode(render_vqa_prompt(ChatTemplateKind::kInternVL2_5, "Is it red?", 2)));
}

TEST(ChatTemplate, InternVL2_5TextOnly) {
  const auto seq = build_vqa_sequence(tiny(), ChatTemplateKind::kInternVL2_5, "Is it red?", 0);
  EXPECT_EQ(tiny().decode(seq.input_ids),
            std::string("<|im_start|>system\n") + kInternVL2_5SystemMessage +
                "<|im_end|>\n<|im_start|>user\nIs it red?<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplate, MissingSpecialTokenNamesIt) {
  // The Qwen3 tokenizer has no <img> / <IMG_CONTEXT>.
  try {
    build_vqa_sequence(qwen(), ChatTemplateKind::kInternVL2_5, "q", 4);
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("the InternVL2.5 chat template needs the token \"<img>\""),
              std::string::npos)
        << e.what();
  }
}

TEST(ChatTemplate, FillQuestion) {
  EXPECT_EQ(fill_question("Does this image show \"{element}\"? Answer yes or no.", "element",
                          "red car (color)"),
            "Does this image show \"red car (color)\"? Answer yes or no.");
  EXPECT_EQ(fill_question("{prompt} / {prompt}", "prompt", "x"), "x / x");
  EXPECT_EQ(fill_question("{prompt}", "prompt", "a {prompt} b"),
            "a {prompt} b");  // no re-expansion
  try {
    fill_question("Rate it.", "prompt", "x");
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("has no {prompt} placeholder"), std::string::npos);
  }
}

}  // namespace
}  // namespace tokenfocus::data
