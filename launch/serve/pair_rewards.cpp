#include "launch/serve/pair_rewards.h"

#include <cmath>

#include "common/error.h"

namespace tokenfocus::launch::serve {

GroupAdvantages pair_group_advantages(const std::vector<double>& rewards) {
  if (rewards.size() < 2)
    throw_internal_error("pair_group_advantages: {} reward(s), needs 2 or more", rewards.size());
  GroupAdvantages out;
  const double n = static_cast<double>(rewards.size());
  for (double r : rewards) out.mean += r;
  out.mean /= n;
  double squares = 0;
  for (double r : rewards) squares += (r - out.mean) * (r - out.mean);
  out.std = std::sqrt(squares / (n - 1));
  for (double r : rewards) out.advantages.push_back((r - out.mean) / (out.std + 1e-4));
  return out;
}

}  // namespace tokenfocus::launch::serve
