#!/usr/bin/env bash
# Stowage with its object bodies in RADOS against radosgw, on one throwaway
# single-node Ceph (scripts/test-ceph.sh), measured by bench/s3 in one run,
# with the ratios printed. Everything it starts is stopped at the end.
#
#   bench/s3/ceph-compare.sh                 # the issue's sizes
#   DURATION=5s MP_SIZE=$((256<<20)) TESTS="large multipart" bench/s3/ceph-compare.sh
#   DATABASE=postgres://… TESTS=small bench/s3/ceph-compare.sh
#
# memstore keeps every byte in the OSD's RAM (about twice over), so the
# cluster's OSD gets CEPH_BYTES (default 8 GiB: the 1 GiB multipart object
# of both servers, and what the large PUTs write before they are deleted);
# the box needs that much free RAM at the peak. MP_SIZE (default 1 GiB, in
# 16 MiB parts) sizes the multipart object; TESTS picks bench/s3's tests,
# ROUNDS how many times each runs.
# Stowage keeps its metadata in SQLite in its data dir (every commit
# fsynced) unless DATABASE names a PostgreSQL database. STOWAGE_GOMAXPROCS,
# when set, is the Stowage node's GOMAXPROCS (default: the CPU count), to
# see how a loaded machine's scheduler shares the CPU out. Needs the ceph and
# radosgw packages and cgo (scripts/install-test-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10s}
MP_SIZE=${MP_SIZE:-$((1 << 30))}
TESTS=${TESTS:-large small list multipart}
ROUNDS=${ROUNDS:-1}
DATABASE=${DATABASE:-}
export STOWAGE_TEST_CEPH_BYTES=${CEPH_BYTES:-$((8 << 30))}

work=$(mktemp -d "${TMPDIR:-/tmp}/ceph-compare.XXXXXX")
conf=""
stowage_pid=""
cleanup() {
  [ -z "$stowage_pid" ] || kill "$stowage_pid" 2>/dev/null || true
  [ -z "$stowage_pid" ] || wait "$stowage_pid" 2>/dev/null || true
  if [ -n "$conf" ]; then
    bench/s3/radosgw.sh stop "$conf" || true
    scripts/test-ceph.sh stop "$conf" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

echo "building stowage (ceph) and bench/s3" >&2
CGO_ENABLED=1 go build -tags 'ceph pacific' -o "$work/stowage" ./cmd/stowage
go build -o "$work/bench" ./bench/s3

conf=$(scripts/test-ceph.sh start)
# Assigned first, so that a gateway that fails to start stops the run.
rgw_env=$(bench/s3/radosgw.sh start "$conf")
eval "$rgw_env"

mkdir -p "$work/data"
GOMAXPROCS=${STOWAGE_GOMAXPROCS:-} "$work/stowage" serve --data-dir "$work/data" --listen 127.0.0.1:0 --s3-listen 127.0.0.1:0 \
  --nbd-listen 127.0.0.1:0 --nfs-listen 127.0.0.1:0 \
  --ceph "$conf" --ceph-user client.stowage ${DATABASE:+--database "$DATABASE"} >"$work/stowage.log" 2>&1 &
stowage_pid=$!
for _ in $(seq 1 600); do
  [ -s "$work/data/addresses.json" ] && [ -s "$work/data/admin-token" ] && break
  kill -0 "$stowage_pid" 2>/dev/null || { tail -20 "$work/stowage.log" >&2; exit 1; }
  sleep 0.1
done
api=http://$(jq -r .api "$work/data/addresses.json")/api/v1
s3=http://$(jq -r .s3 "$work/data/addresses.json")
auth="Authorization: Bearer $(cat "$work/data/admin-token")"
project=$(curl -fsS -H "$auth" "$api/projects" | jq -r '.items[0].id')
cred=$(curl -fsS -H "$auth" -X POST "$api/projects/$project/credentials")
ak=$(jq -r .access_key_id <<<"$cred")
sk=$(jq -r .secret_access_key <<<"$cred")

run() { # name test endpoint access secret region pid
  local name=$1 t=$2 ep=$3 a=$4 s=$5 r=$6 pid=$7
  "$work/bench" -endpoint "$ep" -access-key "$a" -secret-key "$s" -region "$r" -pid "$pid" -bucket bench-s3 \
    -test "$t" -duration "$DURATION" -mp-size "$MP_SIZE" -part-size $((16 << 20)) |
    sed "s/^/$name /" | tee -a "$work/results"
}
# The two servers take turns test by test, ROUNDS times, so that a load
# that changes over minutes weighs on both alike; the table averages the
# rounds. Each phase also reports the CPU time it cost the server (ms per
# operation, s per GiB), which a loaded machine does not skew the way it
# skews rates: there a server gets CPU by how many threads it has ready,
# so rates then say more about the scheduler than about the server.
#
# Each test deletes what it wrote. Stowage removes the bytes in the
# request; radosgw leaves them to its garbage collector, which would then
# work through them during the next test, whoever's it is: it is run to
# the end after each radosgw test instead. Who goes first alternates by
# round.
stowage_run() { run stowage "$1" "$s3" "$ak" "$sk" local-1 "$stowage_pid"; }
radosgw_run() {
  run radosgw "$1" "$RGW_ENDPOINT" "$RGW_MAIN_ACCESS_KEY" "$RGW_MAIN_SECRET_KEY" us-east-1 "$(cat "$(dirname "$conf")/rgw.pid")"
  radosgw-admin -c "$conf" -n client.admin gc process --include-all >/dev/null 2>&1
}
echo "load before: $(uptime)" >&2
for round in $(seq 1 "$ROUNDS"); do
  for t in $TESTS; do
    if [ $((round % 2)) = 1 ]; then
      stowage_run "$t"; radosgw_run "$t"
    else
      radosgw_run "$t"; stowage_run "$t"
    fi
  done
done
echo "load after: $(uptime)" >&2

# One row per measurement, Stowage beside radosgw (means over the
# rounds), ratio > 1 meaning Stowage is better (more per second, or less
# time).
awk '
  {
    who = $1; sub(/^[a-z]+ +/, "")
    if ($1 == "PUT" || $1 == "GET") {
      add($1 " " $2 " MiB/s", who, $5, 1); add($1 " " $2 " ops/s", who, $7, 1); add($1 " " $2 " p99 ms", who, $13, 0)
      if ($0 ~ /server cpu/) add($1 " " $2 " CPU ms/op", who, $(NF-1), 0)
    } else if ($1 == "LIST") {
      add("LIST " $2 " keys s", who, $(NF-1), 0)
    } else if ($1 == "MP") {
      add("MP upload MiB/s", who, $5, 1); add("MP complete ms", who, $8, 0); add("MP GET MiB/s", who, $11, 1)
      if ($0 ~ /server cpu/) add("MP upload CPU s/GiB", who, $(NF-1), 0)
    }
  }
  function add(row, who, x, more) {
    if (!(row in better)) order[++n] = row
    sum[row, who] += x; cnt[row, who]++; better[row] = more
  }
  function mean(row, who) { return cnt[row, who] ? sum[row, who] / cnt[row, who] : 0 }
  END {
    printf "%-20s %12s %12s %8s\n", "measure", "stowage", "radosgw", "ratio"
    for (i = 1; i <= n; i++) {
      row = order[i]; s = mean(row, "stowage"); r = mean(row, "radosgw")
      ratio = better[row] ? (r > 0 ? s / r : 0) : (s > 0 ? r / s : 0)
      printf "%-20s %12.4g %12.4g %8.2f\n", row, s, r, ratio
    }
  }' "$work/results"
