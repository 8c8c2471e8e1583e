// Running the pipeline's stages as child processes (the same executable, mpirun, sbatch).
#pragma once

#include <string>
#include <vector>

namespace tokenfocus::launch {

// Path of the running executable (/proc/self/exe), so stages run the same build.
std::string self_executable();

// Runs argv[0] with arguments (PATH is searched), waits, and returns its exit code
// (128 + signal number when it was killed). Throws UserError when it cannot start.
int run_process(const std::vector<std::string>& argv);

// Runs a command and returns its standard output; throws UserError naming the command when it
// fails or exits non-zero.
std::string capture_process(const std::vector<std::string>& argv);

// The mpirun arguments for N local ranks: --oversubscribe, and --allow-run-as-root for root.
std::vector<std::string> local_mpirun_prefix(int ranks);

}  // namespace tokenfocus::launch
