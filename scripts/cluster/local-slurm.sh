#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the tests: `start DIR` writes a configuration
# under DIR (a munge key, slurm.conf with this host as controller and only node), starts munged,
# slurmctld and slurmd on it and waits until the node is idle; prints the SLURM_CONF to export.
# `stop DIR` stops the three daemons. Needs root (slurmd runs jobs as their users) and Debian's
# slurm-wlm and munge (scripts/setup.sh installs them). Leaves the system's own Slurm and munge
# alone: every file, socket and port is the configuration's own.
set -euo pipefail
cmd=${1:?usage: local-slurm.sh start|stop DIR}
dir=$(mkdir -p "${2:?usage: local-slurm.sh start|stop DIR}" && cd "$2" && pwd)
# Cancels the cluster's jobs, then stops the daemons whose pid files are in $dir (each checked to
# be that daemon before it is signalled; killed if it has not ended within 10 s).
stop() {
  if [ -f "$dir/slurm.conf" ] && [ -f "$dir/slurmctld.pid" ]; then
    SLURM_CONF=$dir/slurm.conf scancel --user="$(id -un)" 2>/dev/null || true
  fi
  for d in slurmd slurmctld munged; do
    if [ -f "$dir/$d.pid" ]; then
      pid=$(cat "$dir/$d.pid")
      if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$d" ]; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
          { kill -0 "$pid" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; } || break
          sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
          kill -9 "$pid" 2>/dev/null || true
        fi
      fi
      rm -f "$dir/$d.pid"
    fi
  done
}
case $cmd in
  stop) stop; exit 0 ;;
  start) ;;
  *) echo "local-slurm.sh: unknown command $cmd (start or stop)" >&2; exit 2 ;;
esac
for t in munged slurmctld slurmd sbatch; do
  command -v "$t" >/dev/null || { echo "local-slurm.sh: $t not found; run scripts/setup.sh" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "local-slurm.sh: slurmd needs root" >&2; exit 1; }
stop
host=$(hostname -s)
cpus=$(nproc)
# Two free ports above 20000 for the controller and the node.
ports=$(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))')
read -r ctld_port d_port <<<"$ports"
mkdir -p "$dir/spool" "$dir/state" "$dir/munge"
chmod 700 "$dir/munge"
[ -f "$dir/munge/munge.key" ] || { head -c 1024 /dev/urandom > "$dir/munge/munge.key"; chmod 400 "$dir/munge/munge.key"; }
munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
  --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/munged.seed"
cat > "$dir/slurm.conf" <<CONF
ClusterName=shiftadd-local
SlurmctldHost=$host
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$dir/slurm.conf
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 1 60); do
  if sinfo -h -o %T 2>/dev/null | grep -qx idle; then
    echo "export SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 1
done
echo "local-slurm.sh: the node did not become idle in 60 s; logs in $dir" >&2
tail -5 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
stop
exit 1
