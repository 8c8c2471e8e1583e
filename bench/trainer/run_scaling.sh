#!/bin/sh
# 1 -> 2 rank scaling of training throughput: runs bench_trainer_throughput on 1 and 2 ranks (same
# global batch) and prints the speed-up. Usage: bench/trainer/run_scaling.sh BUILD_DIR [hidden] [samples]
set -e
build=${1:-build}
bin=$build/bench/trainer/bench_trainer_throughput
flags="--oversubscribe --bind-to none"
[ "$(id -u)" = 0 ] && flags="$flags --allow-run-as-root"
one=$(mpirun -np 1 $flags $bin ${2:-512} ${3:-4096} | tee /dev/stderr | sed -n 's/.*RESULT ranks=1 samples_per_s=\([0-9.]*\).*/\1/p')
two=$(mpirun -np 2 $flags $bin ${2:-512} ${3:-4096} | tee /dev/stderr | sed -n 's/.*RESULT ranks=2 samples_per_s=\([0-9.]*\).*/\1/p')
echo "scaling 1 -> 2 ranks: $one -> $two samples/s, speed-up $(echo "$two / $one" | bc -l | cut -c1-5)"
