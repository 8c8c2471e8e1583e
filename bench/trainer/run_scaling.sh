#!/bin/sh
# 1 -> 2 rank scaling of training throughput (same global batch on both): the VQA training path on
# the tiny and mid-size Qwen2-VL configs (bench_trainer_vlm), and the loop alone on an MLP
# (bench_trainer_throughput, with PyTorch on the same MLP as the peer).
# Usage: bench/trainer/run_scaling.sh BUILD_DIR [hidden] [samples]   (from the repository root)
set -e
build=${1:-build}
flags="--oversubscribe --bind-to none"
[ "$(id -u)" = 0 ] && flags="$flags --allow-run-as-root"
rate() {  # rate FILE SIZE RANKS
  sed -n "s/.*RESULT size=$2 ranks=$3 samples_per_s=\([0-9.]*\).*/\1/p" "$1"
}
out=$(mktemp)
vlm=$build/bench/trainer/bench_trainer_vlm
mpirun -np 1 $flags $vlm . | tee "$out"
mpirun -np 2 $flags $vlm . | tee -a "$out"
for size in tiny mid; do
  one=$(rate "$out" $size 1); two=$(rate "$out" $size 2)
  echo "VLM $size: scaling 1 -> 2 ranks: $one -> $two samples/s, speed-up $(echo "$two / $one" | bc -l | cut -c1-5)"
done
rm -f "$out"
bin=$build/bench/trainer/bench_trainer_throughput
one=$(mpirun -np 1 $flags $bin ${2:-512} ${3:-4096} | tee /dev/stderr | sed -n 's/.*RESULT ranks=1 samples_per_s=\([0-9.]*\).*/\1/p')
two=$(mpirun -np 2 $flags $bin ${2:-512} ${3:-4096} | tee /dev/stderr | sed -n 's/.*RESULT ranks=2 samples_per_s=\([0-9.]*\).*/\1/p')
echo "MLP: scaling 1 -> 2 ranks: $one -> $two samples/s, speed-up $(echo "$two / $one" | bc -l | cut -c1-5)"
