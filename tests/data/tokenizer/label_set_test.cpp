// Label sets: single-token labels, case variants, and the errors for bad label sets.
#include <string>

#include <gtest/gtest.h>

#include "common/error.h"
#include "data/label_set.h"
#include "data/tokenizer.h"
#include "golden_tokenizer.h"

namespace tokenfocus::data {
namespace {

const Tokenizer& qwen() {
  return testing::qwen_tokenizer();
}

std::string error_of(const config::LabelSetConfig& config) {
  try {
    resolve_label_set(qwen(), config, true, "prompt.overall_labels");
  } catch (const UserError& e) {
    return e.what();
  }
  return "no error";
}

TEST(LabelSet, DigitsResolveToTheirTokens) {
  const config::PromptConfig defaults;
  const auto set =
      resolve_label_set(qwen(), defaults.overall_labels, true, "prompt.overall_labels");
  ASSERT_EQ(set.token_ids.size(), 5u);
  for (int d = 0; d < 5; ++d) {
    EXPECT_EQ(set.token_ids[d], 16 + d);  // Qwen: "0" = 15, ... (ids from the golden file)
    EXPECT_EQ(qwen().decode({set.token_ids[d]}), std::to_string(d + 1));
    EXPECT_EQ(set.values[d], d + 1);
    EXPECT_TRUE(set.variant_token_ids[d].empty());
  }
}

TEST(LabelSet, YesNoWithCaseVariants) {
  const config::PromptConfig defaults;
  const auto set =
      resolve_label_set(qwen(), defaults.element_labels, true, "prompt.element_labels");
  EXPECT_EQ(qwen().decode({set.token_ids[0]}), "yes");
  EXPECT_EQ(qwen().decode({set.token_ids[1]}), "no");
  std::vector<std::string> yes_variants, no_variants;
  for (int64_t id : set.variant_token_ids[0]) yes_variants.push_back(qwen().decode({id}));
  for (int64_t id : set.variant_token_ids[1]) no_variants.push_back(qwen().decode({id}));
  EXPECT_EQ(yes_variants, (std::vector<std::string>{"Yes", "YES"}));
  EXPECT_EQ(no_variants, (std::vector<std::string>{"No", "NO"}));
  const auto plain = resolve_label_set(qwen(), defaults.element_labels, false, "p");
  EXPECT_TRUE(plain.variant_token_ids[0].empty());
  EXPECT_EQ(plain.variant_token_ids.size(), 2u);
}

TEST(LabelSet, MultiTokenLabelIsAnError) {
  config::LabelSetConfig config{{"1", "perfectly"}, {1, 5}};
  const std::string message = error_of(config);
  EXPECT_NE(message.find("prompt.overall_labels.labels[1] = \"perfectly\" is not a single token of "
                         "../shared/golden/tokenizer/tokenizer.json: it tokenises as "),
            std::string::npos)
      << message;
  // The message shows each piece with its id.
  const auto ids = qwen().encode("perfectly");
  EXPECT_NE(message.find(std::to_string(ids[0]) + "=\"" + qwen().decode({ids[0]}) + "\""),
            std::string::npos)
      << message;
  config.labels[1] = "";
  EXPECT_NE(error_of(config).find("it tokenises as no tokens"), std::string::npos);
}

TEST(LabelSet, OtherErrors) {
  EXPECT_NE(error_of({{"1", "2"}, {1}})
                .find("prompt.overall_labels: labels has 2 entries but "
                      "values has 1"),
            std::string::npos);
  EXPECT_NE(error_of({{"1"}, {1}}).find("needs at least two labels"), std::string::npos);
  EXPECT_NE(error_of({{"1", "1"}, {1, 2}}).find("labels[1] = \"1\" is the same token"),
            std::string::npos);
}

}  // namespace
}  // namespace tokenfocus::data
