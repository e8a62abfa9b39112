#!/usr/bin/env bash
# A real single-node SLURM cluster for the SLURM test (tests/test_slurm.py), from Debian packages,
# started by hand (no systemd): munge, MariaDB + slurmdbd (so that sacct can show every job),
# slurmctld and slurmd. Needs root and apt. Idempotent: "up" on a running cluster only checks it.
#
#   bash tests/slurm/cluster.sh up     # install what is missing, start the daemons, wait for "idle"
#   bash tests/slurm/cluster.sh down   # stop the daemons this script started (by their pid files)
#
# Why each step is there: tests/slurm/README.md (the gotchas we met on Debian 12).
set -euo pipefail

PARTITION=${RAGDISTILL_SLURM_PARTITION:-debug}
PIDFILES=(/run/slurmd.pid /run/slurmctld.pid /run/slurmdbd.pid /run/mysqld/mysqld.pid /run/munge/munged.pid)

alive() { local pid; pid=$(cat "$1" 2>/dev/null || true); [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
wait_for() { # wait_for <seconds> <command...>: poll until the command succeeds
  local n=$(( $1 * 2 )); shift
  for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "cluster.sh: timed out waiting for: $*" >&2; return 1
}

down() {
  for pf in "${PIDFILES[@]}"; do
    if alive "$pf"; then
      local pid; pid=$(cat "$pf"); kill "$pid" || true
      for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    fi
    rm -f "$pf"   # a stale slurmctld pid file makes a later apt purge fail (its prerm runs scancel)
  done
}

install() {
  local pkgs=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)
  local missing=()
  for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  # a mirror that stops answering fails the download instead of waiting for ever
  local net=(-o Acquire::Retries=3 -o Acquire::http::Timeout=60 -o Acquire::https::Timeout=60)
  apt-get "${net[@]}" update -qq
  # the postinst scripts cannot start services here (policy-rc.d); we start them by hand below
  DEBIAN_FRONTEND=noninteractive apt-get "${net[@]}" install -y -qq --no-install-recommends "${missing[@]}"
}

start_munge() {
  alive /run/munge/munged.pid && return 0
  [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge; chmod 755 /run/munge
  runuser -u munge -- /usr/sbin/munged
  munge -n | unmunge | grep -q Success
}

start_dbd() {
  if ! alive /run/mysqld/mysqld.pid; then
    mkdir -p /run/mysqld; chown mysql:mysql /run/mysqld
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
    nohup /usr/sbin/mariadbd --user=mysql --pid-file=/run/mysqld/mysqld.pid >/var/log/mariadbd-manual.log 2>&1 &
    wait_for 30 mariadb-admin ping
  fi
  mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmdbpass';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
  alive /run/slurmdbd.pid && return 0
  mkdir -p /var/log/slurm; chown slurm:slurm /var/log/slurm
  cat > /etc/slurm/slurmdbd.conf <<'CONF'
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=slurm
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=slurmdbpass
CONF
  # slurmdbd refuses a config not owned by SlurmUser with mode 600
  chown slurm:slurm /etc/slurm/slurmdbd.conf; chmod 600 /etc/slurm/slurmdbd.conf
  /usr/sbin/slurmdbd
  wait_for 30 bash -c 'echo > /dev/tcp/127.0.0.1/6819'
}

write_conf() {
  local host cpus mem
  host=$(hostname -s)
  # SlurmctldHost and NodeName must resolve; map the host name to loopback if it does not
  getent hosts "$host" >/dev/null || echo "127.0.0.1 $host" >> /etc/hosts
  # The test's model jobs ask for 2 CPUs (as the local run with --cores 2 does). On a 1-CPU
  # machine a node of CPUs=1 leaves them PENDING (PartitionConfig) for ever, so the node states
  # at least RAGDISTILL_SLURM_CPUS (default 2) and slurmd believes slurm.conf (config_overrides)
  cpus=$(nproc)
  [ "$cpus" -ge "${RAGDISTILL_SLURM_CPUS:-2}" ] || cpus=${RAGDISTILL_SLURM_CPUS:-2}
  mem=$(free -m | awk '/^Mem:/{print int($2*0.95)}')   # below what slurmd -C reports, or the node drains
  mkdir -p /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm
  chown slurm:slurm /var/lib/slurm/slurmctld /var/log/slurm
  cat > /etc/slurm/slurm.conf <<CONF
ClusterName=localcluster
SlurmctldHost=${host}
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=/var/lib/slurm/slurmd
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
JobCompType=jobcomp/none
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
SlurmdParameters=config_overrides
NodeName=${host} CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=${PARTITION} Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF
}

up() {
  [ "$(id -u)" = 0 ] || { echo "cluster.sh: needs root" >&2; exit 2; }
  install
  start_munge
  start_dbd
  if ! alive /run/slurmctld.pid; then
    write_conf
    sacctmgr -i add cluster localcluster >/dev/null 2>&1 || true
    /usr/sbin/slurmctld
    wait_for 30 bash -c 'scontrol ping | grep -q UP'
  fi
  alive /run/slurmd.pid || /usr/sbin/slurmd
  wait_for 60 bash -c "sinfo -h -o %t | grep -Eqx 'idle|mix|alloc'"
  sinfo
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
