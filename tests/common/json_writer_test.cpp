// config::to_json: a describe()d struct written as JSON reads back (through the run-config reader)
// to the same struct, keys in describe() order, an unset optional left out.
#include <gtest/gtest.h>

#include "common/config/json_writer.h"
#include "common/config/resolve.h"
#include "common/config/run_config.h"

namespace tokenfocus::config {
namespace {

TEST(JsonWriter, RoundTripsThroughTheConfigReader) {
  RunConfig config = resolve_text<RunConfig>("name: demo\n").config;
  config.optim.lr = 3.5e-4;
  config.prompt.overall_labels.labels = {"bad", "good"};
  config.prompt.overall_labels.values = {0, 1};
  ASSERT_FALSE(config.prompt.system_message.has_value());
  const nlohmann::ordered_json json = to_json(config);
  EXPECT_FALSE(json["prompt"].contains("system_message"));
  EXPECT_EQ(json.begin().key(), "name");  // describe() order, not alphabetical
  const RunConfig back = resolve_text<RunConfig>(json.dump(2)).config;
  EXPECT_EQ(to_canonical_yaml(back), to_canonical_yaml(config));

  config.prompt.system_message = "";  // set but empty: kept, and read back as set
  const RunConfig with_empty = resolve_text<RunConfig>(to_json(config).dump()).config;
  ASSERT_TRUE(with_empty.prompt.system_message.has_value());
  EXPECT_EQ(*with_empty.prompt.system_message, "");
}

}  // namespace
}  // namespace tokenfocus::config
