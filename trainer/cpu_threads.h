// How many CPU threads each rank's tensor maths may use. Ranks on one node share its cores: with
// `mpirun --bind-to none` every rank would otherwise start one thread per core, and 2 ranks × 2
// threads on 2 cores run ~3× slower than 2 × 1 (measured on the demo).
#pragma once

#include <cstdint>

namespace tokenfocus::trainer {

class Communicator;

// `configured` > 0 wins; else OMP_NUM_THREADS when the user set it; else the node's cores divided
// by the ranks on the node (at least 1). Gives that many threads to torch's intra-op pool (which
// also runs the wheel's MKL matrix products). Returns the count.
int configure_cpu_threads(const Communicator& comm, int64_t configured);

}  // namespace tokenfocus::trainer
