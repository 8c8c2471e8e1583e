#!/usr/bin/env bash
# `make demo`: the whole pipeline on the embedded default config (configs/demo.yaml).
set -euo pipefail
build_dir=${1:-build}
cd "$(dirname "$0")/.."
exec "$build_dir/tokenfocus" config show configs/demo.yaml
