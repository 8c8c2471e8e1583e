#!/usr/bin/env bash
# Checks that tokenfocus builds against a CPU-only libtorch. PyPI serves only CUDA builds of torch
# for Linux, so this makes a CPU-only *view* of the .venv wheel's libtorch: its headers without any
# CUDA, cuDNN, HIP, XPU or MPS folder (torch/cuda.h, torch::cuda's CPU-safe API, stays, as in a
# CPU-only libtorch), libtorch_cpu + libc10 without libtorch_cuda / libc10_cuda,
# and a TorchConfig.cmake that exports just those. Any translation unit that includes a CUDA header
# or calls a CUDA-only symbol outside the guarded code then fails to compile or link. The view's
# libtorch_cpu.so itself still names libcudart and libcupti (the wheel's profiler), which load
# without a GPU. Builds the tokenfocus binary and the model and trainer unit tests, runs them, and
# checks that `--version` says CUDA and NCCL are not compiled in.
# usage: scripts/check-cpu-only-torch.sh [WORK_DIR]   (default build-cpu-torch/, git-ignored)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(realpath -m "${1:-build-cpu-torch}")
wheel=$(ls -d .venv/lib/python3*/site-packages/torch)
view=$work/libtorch
rm -rf "$view"
mkdir -p "$view/lib" "$view/share/cmake/Torch"
cp -r "$wheel/include" "$view/include"
(cd "$view/include" && rm -rf c10/cuda c10/xpu ATen/cuda ATen/cudnn ATen/hip ATen/mps ATen/xpu \
  ATen/native/cuda torch/csrc/cuda torch/csrc/distributed)
for lib in libtorch_cpu.so libc10.so libgomp.so.1 libshm.so; do
  ln -s "$(realpath "$wheel/lib/$lib")" "$view/lib/$lib"
done
version=$(sed -n 's/^set(PACKAGE_VERSION "\(.*\)")/\1/p' "$wheel/share/cmake/Torch/TorchConfigVersion.cmake")
cat > "$view/share/cmake/Torch/TorchConfig.cmake" <<CMAKE
# A CPU-only view of the wheel's libtorch (scripts/check-cpu-only-torch.sh).
get_filename_component(_root "\${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
add_library(torch_cpu_view SHARED IMPORTED)
set_target_properties(torch_cpu_view PROPERTIES
  IMPORTED_LOCATION "\${_root}/lib/libtorch_cpu.so"
  INTERFACE_INCLUDE_DIRECTORIES "\${_root}/include;\${_root}/include/torch/csrc/api/include"
  INTERFACE_COMPILE_OPTIONS "-D_GLIBCXX_USE_CXX11_ABI=1"
  INTERFACE_LINK_LIBRARIES "\${_root}/lib/libc10.so")
set(TORCH_LIBRARIES torch_cpu_view)
set(Torch_VERSION $version)
set(Torch_FOUND TRUE)
CMAKE
# If the wheel's libraries are found through the view's rpath, CUDA-only ones must not be there.
ls "$view/lib" | grep -q cuda && { echo "check-cpu-only-torch: CUDA library in the view" >&2; exit 1; }

cmake -S . -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTOKENFOCUS_BUILD_BENCH=OFF \
  -DTorch_DIR="$view/share/cmake/Torch" > "$work/configure.log"
grep "tokenfocus:" "$work/configure.log"
grep -q "CUDA: OFF" "$work/configure.log"
cmake --build "$work/build" -j "$(nproc)" --target tokenfocus test_models_qwen test_trainer_units
"$work/build/tokenfocus" --version | tee "$work/version.txt"
grep -q "CUDA: not compiled in" "$work/version.txt"
grep -q "NCCL: not compiled in" "$work/version.txt"
(cd "$work/build" && ctest -R 'GoldenCase|TrainerUnits|Golden/Training' --output-on-failure -j "$(nproc)")
echo "check-cpu-only-torch: tokenfocus builds and runs against a CPU-only libtorch $version"
