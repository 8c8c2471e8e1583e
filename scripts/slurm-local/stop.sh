#!/usr/bin/env bash
# Stops what start.sh started (jobs first) and leaves the logs in $W/log.
W=${TOKENFOCUS_SLURM_DIR:-/tmp/tokenfocus-slurm}
export SLURM_CONF=$W/slurm.conf
scancel --full -u "$(id -un)" 2>/dev/null
scontrol shutdown 2>/dev/null
for f in slurmd slurmctld munged; do
  [ -f "$W/$f.pid.launcher" ] && kill "$(cat "$W/$f.pid.launcher")" 2>/dev/null
  rm -f "$W/$f.pid.launcher"
done
sleep 1
exit 0
