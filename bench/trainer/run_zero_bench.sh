#!/usr/bin/env bash
# ZeRO-1 benchmark (bench_trainer_zero): collectives on 2 ranks, AdamW state per rank for N = 1, 2, 3.
#   bench/trainer/run_zero_bench.sh BUILD_DIR [max_mib=64]
set -euo pipefail
build=${1:?usage: run_zero_bench.sh BUILD_DIR [max_mib]}
max_mib=${2:-64}
mpi=(mpirun --oversubscribe --bind-to none)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
for n in 1 2 3; do
  # 1 thread per rank: the ranks share the machine's cores.
  OMP_NUM_THREADS=1 "${mpi[@]}" -np "$n" "$build/bench/trainer/bench_trainer_zero" . "$max_mib"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
