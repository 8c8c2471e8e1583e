#!/usr/bin/env bash
# `make demo`: the whole pipeline on the embedded default, configs/demo.yaml — synthetic data and
# tiny models (prepare), 2 backbones × 3 folds on 2 MPI ranks (train), bagging/stacking/blending
# and the NTIRE submission (ensemble). The leaderboard is printed and kept in demo-run/summary.json.
set -euo pipefail
build_dir=${1:-build}
cd "$(dirname "$0")/.."
start=$(date +%s)
"$build_dir/tokenfocus" launch configs/demo.yaml --local --ranks 2
echo "demo: finished in $(( $(date +%s) - start )) s; run folder demo-run/ (summary.json, submission/, report/)"
