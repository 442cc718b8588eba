#!/usr/bin/env bash
# A throwaway single-node Ceph for the RBD tests: one mon and one memstore
# OSD (no mgr: RBD does not need one, and it costs seconds and 300 MB) in a
# fresh temp dir, with the mon on a free port, so two runs can share a
# machine. Works as root without systemd.
#
#   conf=$(scripts/test-ceph.sh start)   # prints the ceph.conf path
#   scripts/test-ceph.sh stop "$conf"    # kills this cluster's daemons, removes its dir
#
# The cluster has an RBD pool stowage-volumes, a RADOS pool stowage-objects
# for object bodies, and a cephx user client.stowage with only the caps the
# RBD and RADOS backends need; its keyring is found through the printed
# ceph.conf.
#
# STOWAGE_TEST_CEPH_MGR=1 starts a mgr too (a few seconds and ~300 MB
# more): the mgr is what reports the cluster's capacity and free space.
#
# STOWAGE_TEST_CEPH_FS=1 starts an MDS too and creates the CephFS file
# system stowagefs for filesystem volumes; client.stowage has the caps
# for it either way (they name the file system, not its pools).
set -euo pipefail
pool=stowage-volumes
objects_pool=stowage-objects
fs_name=stowagefs
memstore_bytes=${STOWAGE_TEST_CEPH_BYTES:-1073741824}
with_mgr=${STOWAGE_TEST_CEPH_MGR:-0}
with_fs=${STOWAGE_TEST_CEPH_FS:-0}

die() { echo "test-ceph: $*" >&2; exit 1; }

# stop_dir kills the daemons this script started (recorded in $1/pids)
# and removes the dir; the marker file keeps it from deleting anything
# that is not one of its clusters.
stop_dir() {
  local d=$1
  [ -e "$d" ] || return 0 # stopped already
  [ -f "$d/stowage-test-ceph" ] || die "$d is not a cluster made by test-ceph.sh"
  if [ -f "$d/pids" ]; then
    while read -r pid; do
      kill -9 "$pid" 2>/dev/null || true
    done <"$d/pids"
    while read -r pid; do
      while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    done <"$d/pids"
  fi
  rm -rf "$d"
}

# free_port picks a random unprivileged port nobody listens on; the mon's
# bind is the real test, and start retries with another port if it fails.
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return; }
  done
}

# start_mon starts the mon in the foreground (so its pid is ours to kill)
# and waits until it listens on its port; it fails if the mon exits first,
# e.g. because another process took the port.
start_mon() {
  local d=$1 port=$2 pid
  ceph-mon -f -c "$d/ceph.conf" -i a >>"$d/log/mon.a.stdout" 2>&1 3>&- 4>&- &
  pid=$!
  echo "$pid" >>"$d/pids"
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || return 1
    ss -Htlnp "sport = :$port" | grep -q "pid=$pid," && return 0
    sleep 0.05
  done
  return 1
}

# wait_mds_active waits until the MDS says in its log that it serves the
# file system: reading the log costs nothing, where each `ceph fs dump`
# is a second of Python start-up.
wait_mds_active() {
  local d=$1
  for _ in $(seq 1 1200); do
    grep -q 'up:active' "$d/log/mds.a.log" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

start() {
  for cmd in ceph-mon ceph-osd ceph-authtool monmaptool ceph rbd uuidgen ss; do
    command -v "$cmd" >/dev/null || die "$cmd not found; run scripts/install-test-deps.sh"
  done
  local d fsid port osd_uuid
  d=$(mktemp -d "${TMPDIR:-/tmp}/stowage-ceph.XXXXXX")
  touch "$d/stowage-test-ceph"
  mkdir -p "$d/log"
  # Only the ceph.conf path goes to stdout; the tools' chatter goes to
  # the log.
  exec 3>&1 4>&2 1>>"$d/log/start.out" 2>&1
  # Whatever fails from here on shows its log and leaves nothing running.
  trap 'rc=$?; if [ $rc -ne 0 ]; then tail -n 30 "$d/log/start.out" >&4; stop_dir "$d" || true; fi' EXIT
  trap 'exit 1' INT TERM
  mkdir -p "$d/mon/ceph-a" "$d/osd/ceph-0" "$d/mgr/ceph-x" "$d/mds/ceph-a" "$d/run" "$d/log"
  fsid=$(uuidgen)
  osd_uuid=$(uuidgen)

  # Every key is made up front and imported at mon mkfs, which saves the
  # `ceph auth` round trips (each CLI call is a second of Python start-up).
  ceph-authtool --create-keyring "$d/keyring" --gen-key -n mon. --cap mon 'allow *'
  ceph-authtool "$d/keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *'
  ceph-authtool "$d/keyring" --gen-key -n osd.0 \
    --cap mon 'allow profile osd' --cap mgr 'allow profile osd' --cap osd 'allow *'
  # What the backends need and no more: RBD on its one pool, plain RADOS
  # objects on the other, and the CephFS file system's data with quotas
  # (the p in rwps) for filesystem volumes. Its key has a keyring of its
  # own, as it would on a real node.
  ceph-authtool --create-keyring "$d/client.stowage.keyring" --gen-key -n client.stowage \
    --cap mon "profile rbd, allow r fsname=$fs_name" \
    --cap osd "profile rbd pool=$pool, allow rwx pool=$objects_pool, allow rw tag cephfs data=$fs_name" \
    --cap mgr "profile rbd pool=$pool" --cap mds "allow rwps fsname=$fs_name"
  ceph-authtool "$d/keyring" --import-keyring "$d/client.stowage.keyring"
  ceph-authtool "$d/keyring" --gen-key -n mgr.x \
    --cap mon 'allow profile mgr' --cap osd 'allow *' --cap mds 'allow *'
  ceph-authtool "$d/keyring" --gen-key -n mds.a \
    --cap mon 'allow profile mds' --cap osd 'allow rwx' --cap mds 'allow' --cap mgr 'allow profile mds'

  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    cat >"$d/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$port
mon initial members = a
public addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr1 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $d/keyring
run dir = $d/run
admin socket = $d/run/\$cluster-\$name.asok
pid file = $d/run/\$name.pid
log file = $d/log/\$name.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
auth allow insecure global id reclaim = false
rbd default clone format = 2

[client]
# Clients of one name run many at once (tests, the CLI): one socket each.
admin socket = $d/run/\$cluster-\$name.\$pid.\$cctid.asok

[client.stowage]
keyring = $d/client.stowage.keyring

[mon]
mon data = $d/mon/ceph-\$id
mon data avail warn = 1
# Every RBD snapshot create and remove is an osdmap change, which the mon
# batches for up to a second by default; tests do dozens of them.
paxos propose interval = 0.05

[mgr]
mgr data = $d/mgr/ceph-\$id

[mds]
mds data = $d/mds/ceph-\$id

[osd]
osd data = $d/osd/ceph-\$id
osd objectstore = memstore
memstore device bytes = $memstore_bytes
osd max object name len = 256
osd max object namespace len = 64
osd op num threads per shard = 1
osd op num shards = 2
EOF
    rm -rf "$d/mon/ceph-a" && mkdir -p "$d/mon/ceph-a"
    monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$port]" "$d/monmap" --clobber
    ceph-mon -c "$d/ceph.conf" --mkfs -i a --monmap "$d/monmap" --keyring "$d/keyring" 
    start_mon "$d" "$port" && break
    [ "$attempt" -lt 5 ] || die "the mon did not start; see $d/log"
  done

  # One CLI process runs every mon command (the interactive shell reads
  # them from stdin). require-min-compat-client mimic allows RBD clone v2,
  # which needs no snapshot protection.
  export CEPH_CONF="$d/ceph.conf"
  timeout 120 ceph -n client.admin <<EOF
osd new $osd_uuid 0
osd set-require-min-compat-client mimic --yes-i-really-mean-it
osd pool create $pool 8 8
osd pool application enable $pool rbd
osd pool create $objects_pool 8 8
osd pool application enable $objects_pool stowage
$(if [ "$with_fs" = 1 ]; then
  echo "osd pool create $fs_name-meta 4 4"
  echo "osd pool create $fs_name-data 4 4"
  echo "fs new $fs_name $fs_name-meta $fs_name-data"
  # A SIGKILLed client (test/cluster kills nodes) keeps caps that block
  # other clients' mkdirs and lookups in the directories it had used; the
  # MDS starts taking them back when its session goes stale, after
  # session_timeout (60 s by default, 30 s at least).
  echo "fs set $fs_name session_timeout 30"
fi)
EOF
  if [ "$with_mgr" = 1 ]; then
    command -v ceph-mgr >/dev/null || die "ceph-mgr not found; run scripts/install-test-deps.sh"
    ceph-mgr -f -c "$d/ceph.conf" -i x >>"$d/log/mgr.x.stdout" 2>&1 3>&- 4>&- &
    echo "$!" >>"$d/pids"
  fi
  ceph-osd -c "$d/ceph.conf" -i 0 --mkfs --osd-uuid "$osd_uuid" 
  ceph-osd -f -c "$d/ceph.conf" -i 0 >>"$d/log/osd.0.stdout" 2>&1 3>&- 4>&- &
  echo "$!" >>"$d/pids"
  # rbd pool init writes to the pool, so it returns once its PGs are
  # active: that is the readiness the tests need.
  # The MDS makes its file system while the pools become active.
  if [ "$with_fs" = 1 ]; then
    command -v ceph-mds >/dev/null || die "ceph-mds not found; run scripts/install-test-deps.sh"
    ceph-mds -f -c "$d/ceph.conf" -i a >>"$d/log/mds.a.stdout" 2>&1 3>&- 4>&- &
    echo "$!" >>"$d/pids"
  fi
  timeout 120 rbd -n client.admin pool init "$pool" ||
    die "the pool did not become writable; see $d/log"
  if [ "$with_fs" = 1 ]; then
    wait_mds_active "$d" || die "the MDS did not become active; see $d/log"
  fi
  echo "$d/ceph.conf" >&3
}

case "${1:-}" in
start) start ;;
stop)
  [ -n "${2:-}" ] || die "usage: $0 stop CEPH_CONF"
  stop_dir "$(dirname "$2")"
  ;;
*) echo "usage: $0 start | stop CEPH_CONF" >&2; exit 2 ;;
esac
