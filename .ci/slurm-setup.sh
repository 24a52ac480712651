#!/usr/bin/env bash
# A real single-node SLURM for the tests (cli/tests/it/e2e_slurm.rs), from Debian's packages
# (slurmctld, slurmd, slurm-client, munge), run as root without systemd: a munge key, munged, a
# minimal /etc/slurm/slurm.conf for this host, slurmctld and slurmd; waits until the node is idle.
#
# Idempotent: a cluster that is up with this configuration is left as it is; otherwise the daemons
# this script started before (by their pid files) are stopped and started again with cleared job
# state, so that no job of an earlier run holds the node's CPUs.
set -euo pipefail

conf=/etc/slurm/slurm.conf
logs=/var/log/slurm
node=$(hostname -s)
cpus=$(nproc)

# munge: the key (owned by munge, read-only to it), its directories, the daemon.
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [[ ! -s /etc/munge/munge.key ]]; then
  mungekey --create --keyfile=/etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
  # --force: a socket left behind by a munged that died does not stop a new one.
  runuser -u munge -- /usr/sbin/munged --force
  for _ in $(seq 50); do
    munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break
    sleep 0.2
  done
  munge -n </dev/null | unmunge >/dev/null || { echo "slurm-setup: munged did not start" >&2; exit 1; }
fi

# slurm.conf: one node named after this host with every CPU, each CPU a schedulable unit
# (CR_CPU: two 1-CPU array tasks run at once on 2 cores), no cgroups, a KillWait of 15 s
# (SLURM's SIGKILL after SIGTERM: trainers hand their job back well within it).
install -d -m 0755 /etc/slurm "$logs" /var/spool/slurmctld /var/spool/slurmd
wanted=$(cat <<EOF
# Written by .ci/slurm-setup.sh: a single-node SLURM for the tests.
ClusterName=skippy-ci
SlurmctldHost=${node}(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=${logs}/slurmctld.log
SlurmdLogFile=${logs}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
KillWait=15
MinJobAge=30
NodeName=${node} NodeAddr=127.0.0.1 CPUs=${cpus} State=UNKNOWN
PartitionName=debug Nodes=${node} Default=YES MaxTime=INFINITE State=UP
EOF
)

node_state() {
  sinfo -h -N -n "$node" -o '%T' 2>/dev/null | head -n 1
}

# Whether the daemon named by a pid file runs (the pid file of a daemon that died may name a
# process that has reused its id since: its name must match).
running() {
  local pidfile=$1 daemon=$2
  [[ -s $pidfile ]] && [[ "$(cat "/proc/$(cat "$pidfile")/comm" 2>/dev/null)" == "$daemon" ]]
}

if [[ -f $conf ]] && [[ "$(cat "$conf")" == "$wanted" ]] && running /run/slurmctld.pid slurmctld && running /run/slurmd.pid slurmd \
  && [[ "$(node_state)" =~ ^(idle|mixed|allocated)$ ]]; then
  echo "slurm-setup: SLURM is up ($node, $cpus CPUs)"
  exit 0
fi

# Stop what an earlier run of this script started, then start afresh.
for daemon in slurmd slurmctld; do
  pidfile=/run/$daemon.pid
  if running "$pidfile" "$daemon"; then
    pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
done
printf '%s\n' "$wanted" >"$conf"
# -c: no job of an earlier run is recovered (it would hold CPUs the tests need).
/usr/sbin/slurmctld -c
/usr/sbin/slurmd

for _ in $(seq 300); do
  state=$(node_state)
  if [[ $state =~ ^(idle|mixed|allocated)$ ]]; then
    echo "slurm-setup: SLURM is up ($node, $cpus CPUs, $state)"
    exit 0
  fi
  sleep 0.2
done
echo "slurm-setup: node $node is not idle after 60 s (state: ${state:-none}); the logs:" >&2
tail -n 40 "$logs/slurmctld.log" "$logs/slurmd.log" >&2 || true
exit 1
