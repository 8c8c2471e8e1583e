// FocusDiff's Pair-GRPO advantages (arXiv 2506.05501; open-r1-focusdiff's grpo_trainer_pair.py):
// the rewards of all images generated for a prompt pair (G per prompt, 2G in all) are normalised
// together, A_i = (r_i - mean) / (std + 1e-4), with the sample standard deviation (n - 1), as
// torch's Tensor.std does there. A single prompt's group works the same way over its G images.
#pragma once

#include <vector>

namespace tokenfocus::launch::serve {

struct GroupAdvantages {
  double mean = 0, std = 0;  // of the rewards; std with n - 1
  std::vector<double> advantages;
};

// Needs at least two rewards (InternalError otherwise: the request parser refuses such groups).
GroupAdvantages pair_group_advantages(const std::vector<double>& rewards);

}  // namespace tokenfocus::launch::serve
