#!/usr/bin/env bash
# Runs every stage of `make test` (or, with `soak`, of `make soak`) even
# when an earlier one fails, so one broken package does not hide the
# suites or the fuzz targets; then names every stage that failed, prints
# the wall time and exits non-zero if any did. PostgreSQL comes from
# TEST_PG_DSN when set, otherwise from a cluster of this run's own
# (scripts/test-postgres.sh), stopped on exit, so two runs on one machine
# never share or stop each other's.
# usage: scripts/test.sh test|soak   (GO, RACEFLAGS, TESTARGS, FUZZTIME from make)
set -uo pipefail
cd "$(dirname "$0")/.."
mode=${1:-test}
go=${GO:-go}
raceflags=${RACEFLAGS:--race -gcflags=modernc.org/...=-d=checkptr=0}
testargs=${TESTARGS:-$raceflags -count=1 -timeout 30m}
start=$(date +%s)
failed=()

stage() {
  local name=$1; shift
  echo "== $name"
  local t0=$(date +%s)
  "$@"
  local rc=$?
  echo "== $name: $([ $rc -eq 0 ] && echo ok || echo "FAILED (exit $rc)") in $(( $(date +%s) - t0 ))s"
  [ $rc -eq 0 ] || failed+=("$name")
}

packages() {
  # shellcheck disable=SC2046,SC2086
  $go test $testargs $($go list ./... | grep -v /test/)
}

pgdir=""
if [ -z "${TEST_PG_DSN:-}" ]; then
  pgdir=$(mktemp -d "${TMPDIR:-/tmp}/stowage-test-pg.XXXXXX")
  trap './scripts/test-postgres.sh stop "$pgdir"; rm -rf "$pgdir"' EXIT
  if dsn=$(./scripts/test-postgres.sh start "$pgdir"); then
    export TEST_PG_DSN=$dsn
  else
    failed+=("postgres")
  fi
fi

case $mode in
test)
  stage lint make --no-print-directory lint
  stage packages packages
  # The RBD backend against a throwaway Ceph; it skips itself (and says
  # so) where the Ceph daemons are not installed.
  stage ceph make --no-print-directory test-ceph
  # shellcheck disable=SC2086
  stage suites ./scripts/suites.sh $raceflags
  # shellcheck disable=SC2086
  stage fuzz ./scripts/fuzz.sh ${FUZZTIME:-3s 10s}
  ;;
soak)
  stage suites env STOWAGE_SOAK=1 ./scripts/suites.sh
  stage cluster env STOWAGE_SOAK=1 make --no-print-directory test-cluster
  # shellcheck disable=SC2086
  stage fuzz ./scripts/fuzz.sh ${SOAK_FUZZTIME:-2m 5m}
  ;;
*) echo "usage: $0 test|soak" >&2; exit 2 ;;
esac

wall=$(( $(date +%s) - start ))
printf 'make %s: wall time %dm%02ds\n' "$mode" $((wall / 60)) $((wall % 60))
if ((${#failed[@]})); then
  echo "make $mode: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "make $mode: all stages passed"
