#!/usr/bin/env bash
# Builds tokenfocus on a GPU machine and runs the `gpu`-labelled tests (tests/gpu/). That machine
# has CUDA, PyTorch (python3), a compiler, CMake and ninja but none of our -dev libraries and no
# network: scripts/fetch-gpu-debs.sh downloads their Debian 12 packages into .gpu-debs/ beforehand
# (on a machine with apt), and they travel with the working tree (the device tool's carry:
# [".gpu-debs"]). Here they are unpacked into a prefix under /tmp, never into /.
#   bash scripts/gpu-check.sh      (from anywhere; builds into build-gpu/, about 5 minutes)
# Prints the time of each phase; writes its logs into $OUT when that is set, else into
# build-gpu/gpu-check-logs/. Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-gpu
logs=${OUT:-$build/gpu-check-logs}
mkdir -p "$build" "$logs"
exec > >(tee "$logs/gpu-check.log") 2>&1
start=$(date +%s)
phase_start=$start
phase() {  # phase NAME: ends the previous phase (printing its time) and names the next one
  local now
  now=$(date +%s)
  [ -z "${phase_name:-}" ] || echo "[gpu-check] ${phase_name}: $((now - phase_start)) s"
  phase_name=$1 phase_start=$now
  [ -z "$phase_name" ] || echo "[gpu-check] ${phase_name} ..."
}
copy_test_log() {
  if [ -f "$build/Testing/Temporary/LastTest.log" ]; then
    cp "$build/Testing/Temporary/LastTest.log" "$logs/"
  fi
  echo "[gpu-check] total $(($(date +%s) - start)) s; logs in $logs"
}
trap copy_test_log EXIT

phase "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
python=$(command -v python3)
"$python" -c 'import torch, transformers; print("torch", torch.__version__, "CUDA", torch.version.cuda,
      "device", torch.cuda.get_device_name() if torch.cuda.is_available() else None,
      "| transformers", transformers.__version__)'
torch_cmake=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
cuda_root=$(dirname "$(dirname "$(readlink -f "$nvcc")")")
echo "nvcc: $nvcc (toolkit $cuda_root); $(c++ --version | sed -n 1p); $(cmake --version | sed -n 1p)"
echo "$(ldd --version | sed -n 1p); cores: $(nproc)"

phase "prefix"
debs=(.gpu-debs/*.deb)
[ -f "${debs[0]}" ] || { echo "gpu-check: no .gpu-debs/*.deb (run scripts/fetch-gpu-debs.sh and carry .gpu-debs)"; exit 1; }
prefix=/tmp/tokenfocus-gpu-prefix
rm -rf "$prefix"
mkdir -p "$prefix"
for deb in "${debs[@]}"; do dpkg -x "$deb" "$prefix"; done
usr=$prefix/usr
lib=$usr/lib/x86_64-linux-gnu
# The reference Python runs as the machine has it: our (older) copies of libssl, libffi, zlib ...
# must not replace its own libraries.
cat > "$prefix/python3" <<EOF
#!/bin/sh
LD_LIBRARY_PATH='${LD_LIBRARY_PATH:-}' exec '$python' "\$@"
EOF
chmod +x "$prefix/python3"
export LD_LIBRARY_PATH=$lib:$prefix/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# Debian's Open MPI is built for /usr. OPAL_PREFIX moves its install tree (libraries, plugins, help
# texts, and the compiler wrappers' -I/-L, which FindMPI reads); its MCA defaults live in
# sysconfdir (/etc/openmpi), which OPAL_PREFIX does not move; PMIx ignores both, but takes its
# plugin folder as an MCA parameter. One process needs no orted daemon: an isolated singleton.
export OPAL_PREFIX=$usr OPAL_SYSCONFDIR=$prefix/etc/openmpi
export PMIX_MCA_mca_base_component_path=$lib/pmix2/lib/pmix
export OMPI_MCA_ess_singleton_isolated=1
# One rank on one machine: NCCL's bootstrap needs only the loopback interface.
export NCCL_SOCKET_IFNAME=${NCCL_SOCKET_IFNAME:-lo}
# Plugins whose libraries were not fetched (fabrics: UCX, libfabric, verbs, PSM; munge) go, so that
# neither Open MPI nor PMIx tries to open them.
for plugin in "$lib"/openmpi/lib/openmpi3/*.so "$lib"/pmix2/lib/pmix/*.so; do
  [[ $(ldd "$plugin") != *"not found"* ]] || rm "$plugin"
done
# Debian keeps some configuration headers (jconfig.h, openssl/opensslconf.h) in the multiarch
# folder, which the compiler searches by default only under /usr.
export CPATH=$usr/include/x86_64-linux-gnu
# .pc files say prefix=/usr: pkgconf puts the prefix in front of their paths.
export PKG_CONFIG_LIBDIR=$lib/pkgconfig:$usr/share/pkgconfig PKG_CONFIG_SYSROOT_DIR=$prefix
"$usr/bin/ompi_info" --version | sed -n 1p

phase "configure"
# TOKENFOCUS_FMT_INCLUDE_DIR: the fmt headers that match the linked libfmt (named explicitly, as
# fmt::fmt names them too). CMAKE_POLICY_VERSION_MINIMUM lets CMake 4 read package
# files written for older CMake.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DTOKENFOCUS_BUILD_BENCH=OFF -DTOKENFOCUS_USE_CCACHE=OFF -DTOKENFOCUS_WITH_NCCL=ON \
  -DTorch_DIR="$torch_cmake/Torch" -DTOKENFOCUS_VENV="$prefix/no-venv" \
  -DTOKENFOCUS_REFERENCE_PYTHON="$prefix/python3" \
  -DCUDAToolkit_ROOT="$cuda_root" -DCMAKE_CUDA_COMPILER="$nvcc" \
  -DCMAKE_PREFIX_PATH="$usr" \
  -DMPI_C_COMPILER="$usr/bin/mpicc.openmpi" -DMPI_CXX_COMPILER="$usr/bin/mpicxx.openmpi" \
  -DMPIEXEC_EXECUTABLE="$usr/bin/mpiexec.openmpi" \
  -DHDF5_ROOT="$lib/hdf5/serial" -DPKG_CONFIG_EXECUTABLE="$usr/bin/pkgconf" \
  -DTOKENFOCUS_FMT_INCLUDE_DIR="$usr/include" -DCMAKE_POLICY_VERSION_MINIMUM=3.5 \
  > "$logs/configure.log" 2>&1 || { tail -50 "$logs/configure.log"; exit 1; }
grep -E "tokenfocus:|Found (MPI|HDF5|GTest)" "$logs/configure.log" || true
[ -f "$build/tests/gpu/CTestTestfile.cmake" ] ||
  { echo "gpu-check: tests/gpu is not in the build (add gpu to the list in tests/CMakeLists.txt)"; exit 1; }

phase "build"
cmake --build "$build" -j "$(nproc)" --target tokenfocus tests/gpu/all > "$logs/build.log" 2>&1 ||
  { grep -B2 -A12 -E "error|FAILED" "$logs/build.log" | head -80 || true; exit 1; }
tail -1 "$logs/build.log"

phase "test"
# The rest of the 8 minutes this script may take, so that its logs come back either way.
left=$((480 - ($(date +%s) - start)))
timeout "$((left > 60 ? left : 60))" ctest --test-dir "$build" -L gpu --output-on-failure --no-tests=error
phase ""
