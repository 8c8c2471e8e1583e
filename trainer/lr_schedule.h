// Learning-rate schedules with linear warmup, the same curves as Hugging Face transformers'
// get_{cosine,linear,constant}_schedule_with_warmup (num_cycles = 0.5). Pure functions of the step.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

namespace tokenfocus::trainer {

struct LrSchedule {
  std::string kind = "cosine";  // cosine, linear, constant
  double base_lr = 1e-4;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;

  // Learning rate for optimizer step `step` (0-based: the first update uses lr_at(0)).
  double lr_at(int64_t step) const {
    if (step < warmup_steps)
      return base_lr * static_cast<double>(step) / std::max<int64_t>(1, warmup_steps);
    if (kind == "constant") return base_lr;
    const double progress = static_cast<double>(step - warmup_steps) /
                            static_cast<double>(std::max<int64_t>(1, total_steps - warmup_steps));
    if (kind == "linear") return base_lr * std::max(0.0, 1.0 - progress);
    return base_lr * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
  }
};

}  // namespace tokenfocus::trainer
