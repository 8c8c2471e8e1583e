#!/usr/bin/env bash
# Installs the Debian 12 packages tokenfocus needs to build, test and run its demo.
# Idempotent and silent when everything is already installed. docs/dependencies.md says why each
# package is here.
set -euo pipefail

packages=(
  build-essential cmake ccache pkg-config clang-format
  libtorch-dev libopenblas0-pthread         # libtorch; OpenBLAS instead of the ~50x slower reference BLAS
  libopenmpi-dev openmpi-bin                # MPI launch and the CPU communicator
  libyaml-cpp-dev                           # configs
  libhdf5-dev                               # predictions stores
  libgtest-dev                              # tests
  nlohmann-json3-dev libcli11-dev libfmt-dev libssl-dev
  libpng-dev libjpeg62-turbo-dev libwebp-dev  # image decode
  libpcre2-dev libutf8proc-dev              # tokenizer: Unicode regex pre-tokenizer, NFC
  libxgboost-dev                            # gradient-boosted stacking
  slurmctld slurmd slurm-client munge       # the Slurm integration test runs a real one-node Slurm
  # reference stacks used only by parity tests and benchmarks
  python3 python3-torch python3-numpy python3-scipy python3-sklearn python3-h5py python3-pil
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
