#include "trainer/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "common/log.h"

namespace tokenfocus::trainer {
namespace {

int terminal_columns() {
  winsize size{};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 100;
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<int64_t>(std::llround(seconds));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02d}s", s / 60, s % 60);
  return fmt::format("{}h{:02d}m", s / 3600, (s % 3600) / 60);
}

std::string render_progress(const ProgressState& state, int columns) {
  const double fraction =
      state.total_steps > 0
          ? std::clamp(static_cast<double>(state.step) / static_cast<double>(state.total_steps),
                       0.0, 1.0)
          : 0.0;
  const std::string loss = std::isfinite(state.loss) ? fmt::format("{:.4f}", state.loss) : "-";
  const std::string tail =
      fmt::format(" {:3.0f}% step {}/{} ep {}/{} loss {} {:.1f} samples/s ETA {}", fraction * 100,
                  state.step, state.total_steps, state.epoch, state.epochs, loss,
                  state.samples_per_s, format_duration(state.eta_seconds));
  const int fixed = static_cast<int>(state.label.size() + tail.size()) + 3;  // " [" + "]"
  const int width = std::min(40, columns - 1 - fixed);
  if (width < 5) return state.label + tail;  // too narrow for a bar: the figures alone
  const int filled = static_cast<int>(fraction * width);
  std::string bar(static_cast<size_t>(width), ' ');
  std::fill(bar.begin(), bar.begin() + filled, '=');
  if (filled < width) bar[static_cast<size_t>(filled)] = '>';
  return fmt::format("{} [{}]{}", state.label, bar, tail);
}

ProgressBar::ProgressBar(bool enabled) : active_(enabled && isatty(STDERR_FILENO)) {}

ProgressBar::~ProgressBar() {
  if (active_) log::clear_status();
}

void ProgressBar::update(const ProgressState& state) {
  if (active_) log::status(render_progress(state, terminal_columns()));
}

}  // namespace tokenfocus::trainer
