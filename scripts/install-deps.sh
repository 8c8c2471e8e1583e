#!/usr/bin/env bash
# Installs what tokenfocus needs to build, test and run its demo: Debian 12 packages, then the
# project's Python environment .venv/ from requirements.txt (its torch wheel carries the libtorch
# that CMake builds against; the rest are the live references of the parity tests). Idempotent and
# silent when everything is already there. docs/dependencies.md says why each package is here.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build ccache pkg-config clang-format
  libopenmpi-dev openmpi-bin                # MPI launch and the CPU communicator
  libyaml-cpp-dev                           # configs
  libhdf5-dev                               # predictions stores
  libgtest-dev                              # tests
  nlohmann-json3-dev libcli11-dev libfmt-dev libssl-dev
  libpng-dev libjpeg62-turbo-dev libwebp-dev  # image decode
  libpcre2-dev libutf8proc-dev              # tokenizer: Unicode regex pre-tokenizer, NFC
  libxgboost-dev                            # gradient-boosted stacking
  libcpp-httplib-dev curl                   # `tokenfocus serve` and its end-to-end tests
  slurmctld slurmd slurm-client munge       # the Slurm integration test runs a real one-node Slurm
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
fi

# The pinned Python environment: rebuilt only when requirements.txt changed since the last install
# (its hash is kept in .venv/requirements.sha256).
python=${TOKENFOCUS_PYTHON:-python3}
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat .venv/requirements.sha256 2>/dev/null)" != "$want" ]; then
  echo "install-deps: installing the Python environment .venv/ (requirements.txt)" >&2
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
  echo "$want" > .venv/requirements.sha256
fi
