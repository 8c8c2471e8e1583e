#!/usr/bin/env bash
# Usage: slurm_integration.sh TOKENFOCUS_BINARY
# 1. starts a one-node Slurm on localhost; 2. `tokenfocus launch --slurm --submit` on a small
# synthetic run: prepare -> train array (backbone x fold) -> ensemble, checks every job COMPLETED and
# the outputs exist; 3. preemption: a longer training job gets USR1 at its batch shell (as
# --signal=B:USR1 does), checkpoints, exits 75, requeues itself and completes after resuming.
set -uo pipefail
exe=$(readlink -f "$1")
repo=$(pwd)
export TOKENFOCUS_SLURM_DIR=/tmp/tokenfocus-slurm-test-$$
work=/tmp/tokenfocus-slurm-run-$$
fail() { echo "slurm_integration: FAIL: $*" >&2; for f in "$work"/run*/slurm/logs/*; do echo "== $f"; tail -30 "$f"; done; exit 1; }
cleanup() { bash "$repo/scripts/slurm-local/stop.sh" >/dev/null 2>&1; rm -rf "$TOKENFOCUS_SLURM_DIR" "$work"; }
trap cleanup EXIT

if ! env_line=$(bash "$repo/scripts/slurm-local/start.sh" 2>"$work.start.err"); then
  echo "slurm_integration: SKIPPED: a local Slurm could not start: $(cat "$work.start.err")"
  exit 77
fi
eval "$env_line"
mkdir -p "$work"

# State of a job (array tasks: one line each).
states() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'; }
wait_done() {  # wait_done JOBID SECONDS: until no task is PENDING/RUNNING/REQUEUED
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    s=$(states "$1")
    [ -n "$s" ] && ! grep -qE 'PENDING|RUNNING|REQUEUED|CONFIGURING|COMPLETING|SUSPENDED' <<<"$s" && return 0
    sleep 2
  done
  return 1
}

cat > "$work/run.yaml" <<YAML
name: slurmtest
data:
  train_records: $work/data/train.json
  test_records: $work/data/test.json
  image_root: $work/data
  synthetic: {train_samples: 48, test_samples: 12, seed: 3}
backbones:
  - {name: tiny, model_dir: $work/models/tiny, tokenizer: $work/data/tokenizer.json,
     init_config: $repo/configs/models/tiny-qwen2-vl.json, finetune: full, freeze_vision: false}
optim: {epochs: 1, micro_batch_size: 4, lr: 0.001}
folds: {k: 2}
ensemble: {bootstrap_samples: 20, inner_folds: 2}
output: {run_dir: $work/run}
slurm: {tasks_per_node: 2, cpus_per_task: 1, time: "00:10:00", launcher: srun, signal_seconds: 0}
YAML

# --- 1. the chained jobs ------------------------------------------------------------------------
out=$("$exe" launch "$work/run.yaml" --slurm --submit) || fail "launch --slurm --submit: $out"
ids=$(sed -n 's/^submitted jobs (prepare train ensemble): //p' <<<"$out")
read -r prepare train ensemble <<<"$ids"
[ -n "${ensemble:-}" ] || fail "no job ids in: $out"
echo "slurm_integration: jobs prepare=$prepare train=$train ensemble=$ensemble"
wait_done "$ensemble" 600 || fail "jobs did not finish in 600 s"
for j in "$prepare" "$train" "$ensemble"; do
  s=$(states "$j" | sort -u)
  [ "$s" = COMPLETED ] || fail "job $j ended as: $s"
done
[ "$(states "$train" | wc -l)" -eq 2 ] || fail "expected a 2-task array (1 backbone x 2 folds)"
for k in 0 1; do [ -f "$work/run/predictions/tiny/fold$k.h5" ] || fail "missing predictions for fold $k"; done
[ -f "$work/run/submission/output.json" ] || fail "missing submission"
echo "slurm_integration: chain of 3 jobs (2 array tasks) completed with predictions and submission"

# --- 2. preemption: USR1 -> checkpoint -> exit 75 -> requeue -> resume -------------------------
"$exe" launch "$work/run.yaml" --slurm \
  --set output.run_dir="$work/run2" --set optim.epochs=6 --set output.log_every_steps=1 --set folds.only=[0] \
  --set slurm.job_array=false >/dev/null || fail "launch --slurm (run2)"
job=$(sbatch --parsable "$work/run2/slurm/train.sbatch") || fail "sbatch train"
for _ in $(seq 240); do  # wait until training has logged a step
  cat "$work"/run2/metrics/*.jsonl 2>/dev/null | grep -q step && break
  sleep 0.5
done
scancel --signal=USR1 --batch "$job" || fail "scancel --signal=USR1"
for _ in $(seq 120); do
  restarts=$(scontrol show job "$job" | sed -n 's/.*Restarts=\([0-9]*\).*/\1/p')
  [ "${restarts:-0}" -ge 1 ] && break
  sleep 1
done
[ "${restarts:-0}" -ge 1 ] || fail "job $job was not requeued after USR1"
# No `scontrol update StartTime=now`: a rerun started before the revoked credential of the first
# run expires (cred_expire=10 in scripts/slurm-local) is killed ("Job credential revoked"); the
# natural BeginTime delay (~13 s) is what a real cluster does too.
wait_done "$job" 600 || fail "requeued job did not finish"
[ "$(states "$job")" = COMPLETED ] || fail "requeued job ended as $(states "$job")"
grep -q "requeueing job" "$work"/run2/slurm/logs/train-*.out || fail "no requeue message in the job log"
grep -q "resumed from .*step-" "$work"/run2/slurm/logs/train-*.out || fail "the requeued job did not resume from a checkpoint"
[ -f "$work/run2/predictions/tiny/fold0.h5" ] || fail "missing predictions after resume"
echo "slurm_integration: USR1 -> checkpoint -> exit 75 -> requeue -> resume -> completed"
echo "1 passed, 0 failed"
