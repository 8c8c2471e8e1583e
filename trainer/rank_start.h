// What every multi-rank command (train, predict) does first on each rank: the communicator the
// run's `distributed:` section asks for, the log's "[rank r]" prefix, and the rank's CPU threads.
#pragma once

#include <memory>

#include "common/config/sections/distributed.h"
#include "trainer/communicator.h"

namespace tokenfocus::trainer {

std::unique_ptr<Communicator> start_rank(const config::DistributedConfig& distributed);

}  // namespace tokenfocus::trainer
