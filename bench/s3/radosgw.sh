#!/usr/bin/env bash
# radosgw, Ceph's own S3 gateway, on a cluster made by scripts/test-ceph.sh:
# the peer Stowage's RADOS backend is measured against (bench/s3/ceph-compare.sh).
#
#   bench/s3/radosgw.sh start CEPH_CONF   # prints shell assignments: RGW_ENDPOINT, and
#                                         # access/secret keys of three users (main, alt, tenant)
#   bench/s3/radosgw.sh stop CEPH_CONF
#
# The gateway (beast) listens on a loopback port the kernel picks, creates its pools
# itself (8 PGs each, the one OSD holding them all), and collects deleted
# objects' RADOS data within seconds instead of hours, since memstore keeps
# every byte in RAM. The users are the three ceph/s3-tests wants (the third
# in tenant testx), with keys made here. Needs the radosgw package
# (scripts/install-test-deps.sh).
set -euo pipefail

die() { echo "radosgw.sh: $*" >&2; exit 1; }

key() { head -c 64 /dev/urandom | base64 | tr -dc 'A-Z0-9' | head -c "$1"; }

start() {
  local conf=$1 d port pid
  d=$(dirname "$conf")
  [ -f "$d/stowage-test-ceph" ] || die "$conf is not a cluster made by scripts/test-ceph.sh"
  command -v radosgw >/dev/null || die "radosgw not found; run scripts/install-test-deps.sh"
  export CEPH_CONF=$conf
  ceph-authtool --create-keyring "$d/client.rgw.bench.keyring" --gen-key -n client.rgw.bench \
    --cap mon 'allow rw' --cap osd 'allow rwx' >/dev/null
  ceph -n client.admin auth import -i "$d/client.rgw.bench.keyring" 2>"$d/log/rgw-auth.err" ||
    die "importing the gateway's key failed: $(cat "$d/log/rgw-auth.err")"
  # Port 0: the kernel picks a free one, read back from the socket.
  radosgw -f -c "$conf" -n client.rgw.bench --keyring "$d/client.rgw.bench.keyring" \
    --rgw-frontends "beast endpoint=127.0.0.1:0" \
    --osd-pool-default-pg-num 8 --osd-pool-default-pgp-num 8 \
    --rgw-gc-obj-min-wait 5 --rgw-gc-processor-period 5 --rgw-gc-processor-max-time 5 \
    --log-file "$d/log/rgw.log" >>"$d/log/rgw.stdout" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >>"$d/pids" # test-ceph.sh stop kills it with the cluster
  echo "$pid" >"$d/rgw.pid"
  port=""
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || die "radosgw exited; see $d/log/rgw.log"
    port=$(ss -Htlnp | awk -v p="pid=$pid," 'index($0, p) { n = split($4, a, ":"); print a[n]; exit }')
    [ -n "$port" ] && curl -fs "http://127.0.0.1:$port/" >/dev/null 2>&1 && break
    sleep 0.1
  done
  [ -n "$port" ] || die "radosgw did not listen; see $d/log/rgw.log"
  echo "RGW_ENDPOINT=http://127.0.0.1:$port"
  local who ak sk
  for who in main alt tenant; do
    ak=$(key 20) sk=$(key 40)
    if [ "$who" = tenant ]; then
      radosgw-admin -c "$conf" -n client.admin user create --tenant testx --uid tenanteduser --display-name tenant \
        --email tenant@example.com --access-key "$ak" --secret "$sk" >/dev/null
    else
      radosgw-admin -c "$conf" -n client.admin user create --uid "$who" --display-name "$who" \
        --email "$who@example.com" --access-key "$ak" --secret "$sk" >/dev/null
    fi
    echo "RGW_${who^^}_ACCESS_KEY=$ak"
    echo "RGW_${who^^}_SECRET_KEY=$sk"
  done
}

stop() {
  local d
  d=$(dirname "$1")
  [ -f "$d/rgw.pid" ] || return 0
  kill -9 "$(cat "$d/rgw.pid")" 2>/dev/null || true
  rm -f "$d/rgw.pid"
}

case "${1:-}" in
start) [ -n "${2:-}" ] || die "usage: $0 start CEPH_CONF"; start "$2" ;;
stop) [ -n "${2:-}" ] || die "usage: $0 stop CEPH_CONF"; stop "$2" ;;
*) echo "usage: $0 start|stop CEPH_CONF" >&2; exit 2 ;;
esac
