#!/usr/bin/env bash
# Starts a real single-node Slurm (munged + slurmctld + slurmd) on localhost, entirely under $W
# (default /tmp/tokenfocus-slurm): no systemd, cgroups or /etc files. Used by the Slurm integration
# test; prints `export SLURM_CONF=...` for the caller. Recipe and pitfalls: docs/slurm.md.
set -euo pipefail
W=${TOKENFOCUS_SLURM_DIR:-/tmp/tokenfocus-slurm}
for tool in munged slurmctld slurmd sinfo sbatch; do
  command -v "$tool" >/dev/null || { echo "slurm-local: $tool is not installed" >&2; exit 3; }
done
mkdir -p "$W"/{munge,ctld,spool,log}
chmod 755 "$W" "$W/munge"
if [ ! -f "$W/munge/munge.key" ]; then
  dd if=/dev/urandom of="$W/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$W/munge/munge.key"
fi
node=$(hostname -s)
cpus=$(nproc)
: > "$W/plugstack.conf"
cat > "$W/slurm.conf" <<CONF
ClusterName=tokenfocus
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$W/munge/munge.sock,cred_expire=10
StateSaveLocation=$W/ctld
SlurmdSpoolDir=$W/spool
SlurmctldPidFile=$W/slurmctld.pid
SlurmdPidFile=$W/slurmd.pid
SlurmctldLogFile=$W/log/slurmctld.log
SlurmdLogFile=$W/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=pmix
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=300
PlugStackConfig=$W/plugstack.conf
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=20000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$W/slurm.conf
munged --foreground --force --key-file="$W/munge/munge.key" --socket="$W/munge/munge.sock" \
  --pid-file="$W/munge/munged.pid" --log-file="$W/log/munged.log" --seed-file="$W/munge/munged.seed" \
  >/dev/null 2>&1 &
echo $! > "$W/munged.pid.launcher"
for _ in $(seq 50); do [ -S "$W/munge/munge.sock" ] && break; sleep 0.1; done
slurmctld -D -i -f "$SLURM_CONF" >/dev/null 2>&1 &
echo $! > "$W/slurmctld.pid.launcher"
slurmd -D -f "$SLURM_CONF" >/dev/null 2>&1 &
echo $! > "$W/slurmd.pid.launcher"
for _ in $(seq 120); do
  [ "$(sinfo -h -N -o %t 2>/dev/null)" = idle ] && { echo "export SLURM_CONF=$SLURM_CONF"; exit 0; }
  sleep 0.5
done
echo "slurm-local: the node did not become idle within 60 s; see $W/log" >&2
exit 4
