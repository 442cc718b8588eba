#!/usr/bin/env bash
# Starts (or stops) a throwaway PostgreSQL cluster for the tests in the
# directory given, owned by the postgres user because initdb refuses to run
# as root. Each run brings its own directory (mktemp -d) and gets a free
# port, and `stop` stops only the cluster in the directory it is given, so
# two `make test` runs on one machine never share or stop each other's.
# `start` prints the DSN tests read from TEST_PG_DSN.
# usage: scripts/test-postgres.sh start|stop DIR
set -euo pipefail
cmd=${1:-} dir=${2:-}
if [ -z "$dir" ] || { [ "$cmd" != start ] && [ "$cmd" != stop ]; }; then
  echo "usage: $0 start|stop DIR   (DIR: this run's own directory, e.g. from mktemp -d)" >&2
  exit 2
fi
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || { echo "PostgreSQL server binaries not found; run scripts/install-test-deps.sh" >&2; exit 1; }
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
data=$dir/data
case $cmd in
start)
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
  as_pg "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
  # A free port is one the server manages to bind: try random ones until
  # a start succeeds, which cannot race with another run the way probing
  # first and binding later would.
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    port=$((20000 + RANDOM % 30000))
    if as_pg "$bin/pg_ctl" -D "$data" -w -l "$dir/log" \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" start >/dev/null; then
      echo "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
      exit 0
    fi
  done
  echo "PostgreSQL did not start; its log is $dir/log" >&2
  tail -20 "$dir/log" >&2 || true
  exit 1
  ;;
stop)
  [ -d "$data" ] || exit 0
  as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
  ;;
esac
