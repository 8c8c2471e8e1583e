// NCCL backend of the Communicator (CUDA tensors). Built only when TOKENFOCUS_WITH_NCCL is defined
// (CMake defines it when CUDA with NCCL is found). MPI bootstraps it: rank 0's ncclUniqueId is
// broadcast over MPI, and MPI keeps the control plane (flags, strings, barriers, timeouts).
#pragma once

#include <memory>

#include "trainer/communicator.h"

namespace tokenfocus::trainer {

// Throws UserError when the machine has no CUDA device ("NCCL backend needs a CUDA device; ...").
std::unique_ptr<Communicator> make_nccl_communicator(double timeout_seconds);

}  // namespace tokenfocus::trainer
