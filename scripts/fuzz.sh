#!/usr/bin/env bash
# Runs every fuzz target in the module (found by name, so a new one is
# never left out), one at a time, and prints the executions each reached.
# The first argument is each target's time, the second the time of the
# targets under test/, which start a whole node and spend their first
# seconds on its start and the seed corpus. `make test` gives seconds,
# `make soak` minutes. A failing target does not stop the others: every
# failure is named at the end, then the script exits 1. Crashers land in
# the package's testdata/fuzz, as go test writes them; commit them with
# the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-3s}
nodetime=${2:-$time}
go=${GO:-go}
targets=$(grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' cmd internal test bench 2>/dev/null |
  sed -E 's|^(.*)/[^/]*:func (Fuzz[A-Za-z0-9_]*)$|\1 \2|' | sort -u)
total=0
summary=""
failed=()
while read -r dir fn; do
  [ -n "$dir" ] || continue
  t=$time
  case $dir in test/*) t=$nodetime ;; esac
  out=$($go test -run='^$' -fuzz="^${fn}\$" -fuzztime="$t" "./$dir" 2>&1) || {
    echo "$out" | tail -40
    echo "fuzz: $fn in ./$dir FAILED" >&2
    failed+=("$fn in ./$dir")
    continue
  }
  execs=$(echo "$out" | grep -o 'execs: [0-9]*' | tail -1 | awk '{print $2}' || true)
  execs=${execs:-0}
  total=$((total + execs))
  summary+=$(printf '\n  %-24s %-24s %10s execs in %s' "$fn" "./$dir" "$execs" "$t")
done <<< "$targets"
echo "fuzz:$summary"
echo "fuzz: $total executions in all"
if ((${#failed[@]})); then
  printf 'fuzz: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
