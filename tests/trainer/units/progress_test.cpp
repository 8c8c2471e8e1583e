// The progress bar's text: bar proportional to the steps done, figures, shrinking to the terminal.
#include <gtest/gtest.h>

#include <cmath>

#include "trainer/progress.h"

using namespace tokenfocus::trainer;

namespace {

ProgressState state(int64_t step) {
  ProgressState s;
  s.label = "tiny/fold0";
  s.step = step;
  s.total_steps = 200;
  s.epoch = 2;
  s.epochs = 3;
  s.loss = 1.23456;
  s.samples_per_s = 290.04;
  s.eta_seconds = 72;
  return s;
}

TEST(Progress, BarTextAtHalfway) {
  EXPECT_EQ(render_progress(state(100), 120),
            "tiny/fold0 [====================>                   ]  50% step 100/200 ep 2/3 loss "
            "1.2346 290.0 samples/s ETA 1m12s");
}

TEST(Progress, StartEndNarrowAndUnknownLoss) {
  ProgressState s = state(0);
  s.loss = std::nan("");
  EXPECT_EQ(render_progress(s, 120).substr(0, 24), "tiny/fold0 [>           ");
  EXPECT_NE(render_progress(s, 120).find(" loss - "), std::string::npos);
  EXPECT_NE(
      render_progress(state(200), 120).find("[========================================] 100%"),
      std::string::npos);
  const std::string narrow = render_progress(state(100), 90);
  EXPECT_LE(narrow.size(), 89u);
  EXPECT_NE(narrow.find("[====="), std::string::npos);
  // Too narrow for any bar: the figures alone.
  EXPECT_EQ(render_progress(state(100), 40).find('['), std::string::npos);
}

TEST(Progress, Durations) {
  EXPECT_EQ(format_duration(42), "42s");
  EXPECT_EQ(format_duration(72), "1m12s");
  EXPECT_EQ(format_duration(3 * 3600 + 5 * 60 + 9), "3h05m");
  EXPECT_EQ(format_duration(-1), "?");
}

}  // namespace
