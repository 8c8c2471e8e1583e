#include "trainer/build_info.h"

#include <torch/cuda.h>
#include <torch/version.h>

#include <fmt/format.h>

#ifdef TOKENFOCUS_WITH_NCCL
#include <nccl.h>
#endif

namespace tokenfocus::trainer {

std::string build_info() {
  std::string text = fmt::format("tokenfocus {}\nlibtorch {}\n", TOKENFOCUS_VERSION, TORCH_VERSION);
#ifdef TOKENFOCUS_TORCH_CUDA_VERSION
  // device_count() asks the driver; without a GPU (or a driver) it answers 0, no error.
  text += fmt::format("CUDA: compiled in ({}), {} device(s) visible\n",
                      TOKENFOCUS_TORCH_CUDA_VERSION, torch::cuda::device_count());
#else
  text += "CUDA: not compiled in (a CPU-only libtorch)\n";
#endif
#ifdef TOKENFOCUS_WITH_NCCL
  text += fmt::format("NCCL: compiled in ({}.{}.{})\n", NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH);
#else
  text += "NCCL: not compiled in\n";
#endif
  return text;
}

}  // namespace tokenfocus::trainer
