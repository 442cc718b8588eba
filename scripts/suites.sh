#!/usr/bin/env bash
# Runs the whole-system suites under test/ (isolation, hostile, crash loop,
# disk full, load, readme, scripts, tls, backup, upgrade, deploy, notify) verbosely into a log of this run's own (or
# STOWAGE_SUITES_LOG) and prints what they measured: the lines each suite
# writes starting with its name, and any failure. Extra
# arguments go to `go test` (make test passes $RACEFLAGS). STOWAGE_SOAK=1 makes
# the suites run their long versions.
set -euo pipefail
cd "$(dirname "$0")/.."
go=${GO:-go}
log=${STOWAGE_SUITES_LOG:-$(mktemp "${TMPDIR:-/tmp}/stowage-suites.XXXXXX")}
timeout=30m
[ -n "${STOWAGE_SOAK:-}" ] && timeout=120m
set +e
$go test -count=1 -v -timeout "$timeout" "$@" ./test/... > "$log" 2>&1
rc=$?
set -e
grep -E '^(isolation|hostile|crashloop|diskfull|load|readme|backup|upgrade|console|notify)[ (:]' "$log" || true
grep -E '^(--- FAIL|FAIL|ok|panic:)' "$log" || true
if [ $rc -ne 0 ]; then
  echo "suites under test/ failed; the whole log is $log" >&2
else
  echo "suites: the whole log is $log"
fi
exit $rc
