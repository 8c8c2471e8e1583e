// What this binary was built with, for `tokenfocus --version` and bug reports: the project's
// version, libtorch's, and whether CUDA and NCCL were compiled in (and whether a GPU is visible).
#pragma once

#include <string>

namespace tokenfocus::trainer {

// Several lines, e.g. "tokenfocus 0.1.0\nlibtorch 2.11.0\nCUDA: compiled in (13.0), 0 device(s)
// visible\nNCCL: compiled in (2.28.9)".
std::string build_info();

}  // namespace tokenfocus::trainer
