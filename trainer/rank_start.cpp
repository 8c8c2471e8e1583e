#include "trainer/rank_start.h"

#include "common/log.h"
#include "trainer/cpu_threads.h"

namespace tokenfocus::trainer {

std::unique_ptr<Communicator> start_rank(const config::DistributedConfig& distributed) {
  CommunicatorOptions options;
  options.backend = distributed.backend;
  options.timeout_seconds = distributed.timeout_seconds;
  auto comm = make_communicator(options);
  log::set_rank(comm->rank(), comm->world_size());
  configure_cpu_threads(*comm, distributed.threads_per_rank);
  return comm;
}

}  // namespace tokenfocus::trainer
