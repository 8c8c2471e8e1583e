// launch and sweep warn before training when a setting will keep a later stage from its usual
// output: today, a run without element questions cannot produce an NTIRE submission.
#include "launch/lib/run_notices.h"

#include <gtest/gtest.h>

namespace tokenfocus::launch {
namespace {

TEST(RunNotices, ARunWithoutElementQuestionsIsToldNoSubmissionBeforeTraining) {
  config::RunConfig run;
  EXPECT_TRUE(run_notices(run).empty()) << "the default run asks element questions";
  run.prompt.element_questions = false;
  const auto notices = run_notices(run);
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_NE(notices[0].find("no NTIRE submission"), std::string::npos) << notices[0];
  EXPECT_NE(notices[0].find("prompt.element_questions"), std::string::npos) << notices[0];
}

}  // namespace
}  // namespace tokenfocus::launch
