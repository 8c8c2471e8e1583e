// Rank 0's training progress. On a terminal: one bar redrawn in place after every optimizer step,
//   tiny/fold0 [=========>          ]  47% step 120/256 ep 2/3 loss 1.2345 290 samples/s ETA 1m12s
// as log's status line, so any other line logged erases it first (and it is erased at the end,
// which logs a summary line). Not on a terminal (a log file, Slurm's output), or with --quiet:
// nothing here; the loop logs plain lines every output.log_every_steps steps instead.
#pragma once

#include <cstdint>
#include <string>

namespace tokenfocus::trainer {

struct ProgressState {
  std::string label;  // "<backbone>/fold<k>"
  int64_t step = 0, total_steps = 0;
  int64_t epoch = 0, epochs = 0;  // epoch is 1-based here
  double loss = 0;                // NaN until the first logging window is reduced
  double samples_per_s = 0;
  double eta_seconds = 0;
};

// "1m12s", "3h05m", "42s".
std::string format_duration(double seconds);

// The bar's text for a terminal `columns` wide (no escape codes); the bar shrinks to fit.
std::string render_progress(const ProgressState& state, int columns);

class ProgressBar {
 public:
  // Active only when `enabled` (rank 0, info-level logging) and stderr is a terminal.
  explicit ProgressBar(bool enabled);
  ~ProgressBar();  // erases the bar
  bool active() const { return active_; }
  void update(const ProgressState& state);

 private:
  bool active_ = false;
};

}  // namespace tokenfocus::trainer
