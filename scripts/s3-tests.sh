#!/usr/bin/env bash
# Runs ceph/s3-tests (with the marker selection of a runner directory)
# against the S3 handler served standalone from the s3 package's test binary
# (TestCrashChild) on a free port, with three projects: main, alt, tenant.
# The user ids and display names in the generated config are the project
# ids, which is what the handler reports as owner. With TEST_CEPH_CONF set
# (a cluster from scripts/test-ceph.sh) the handler keeps the bodies in its
# RADOS pool instead of on disk.
# usage: S3TESTS_TOOLS=DIR scripts/s3-tests.sh S3TESTS_CHECKOUT [extra pytest args]
#   S3TESTS_CHECKOUT: a checkout of github.com/ceph/s3-tests
#   S3TESTS_TOOLS: a directory holding run.sh (runs pytest on the checkout
#     with a config: run.sh CHECKOUT CONF [args]), markers.txt (the pytest -m
#     selection) and s3tests.conf.template (PORT, the *_USER_ID, display
#     names and *_ACCESS_KEY/*_SECRET_KEY of main, alt and tenant to fill in)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: S3TESTS_TOOLS=DIR $0 S3TESTS_CHECKOUT [extra pytest args]"
if [ -z "${S3TESTS_TOOLS:-}" ]; then
  echo "S3TESTS_TOOLS is not set: name the directory with run.sh, markers.txt and s3tests.conf.template" >&2
  echo "$usage" >&2
  exit 2
fi
tools=$S3TESTS_TOOLS
for f in run.sh markers.txt s3tests.conf.template; do
  [ -f "$tools/$f" ] || { echo "S3TESTS_TOOLS=$tools has no $f" >&2; echo "$usage" >&2; exit 2; }
done
if [ $# -lt 1 ] || [ ! -d "$1/s3tests" ]; then
  echo "the first argument must be a checkout of github.com/ceph/s3-tests" >&2
  echo "$usage" >&2
  exit 2
fi
checkout=$1; shift
work=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
if [ -n "${TEST_CEPH_CONF:-}" ]; then
  (cd "$root" && CGO_ENABLED=1 go test -c -tags 'ceph pacific' -o "$work/s3.test" ./internal/s3)
else
  (cd "$root" && go test -c -o "$work/s3.test" ./internal/s3)
fi
mkdir -p "$work/data"
STOWAGE_S3_CRASH_CHILD="$work/data" STOWAGE_S3_ADDR="127.0.0.1:0" \
  STOWAGE_S3_KEYS=main:MAINACCESSKEY0000001:mainsecret,alt:ALTACCESSKEY00000001:altsecret,tenant:TENANTACCESSKEY00001:tenantsecret \
  "$work/s3.test" -test.run '^TestCrashChild$' -test.timeout 0 >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 600); do grep -q '^ADDR' "$work/server.log" && break; sleep 0.1; done
port=$(awk '$1 == "ADDR" {n = split($2, a, ":"); print a[n]; exit}' "$work/server.log")
[ -n "$port" ] || { echo "the S3 server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
id() { awk -v n="$1" '$1 == "PROJECT" && $2 == n {print $3}' "$work/server.log"; }
m=$(id main) a=$(id alt) t=$(id tenant)
sed -e "s/PORT/$port/" \
  -e "s/MAIN_USER_ID/$m/" -e "s/ALT_USER_ID/$a/" -e "s/TENANT_USER_ID/$t/" \
  -e "s/display_name = main/display_name = $m/" -e "s/display_name = alt/display_name = $a/" -e "s/display_name = tenant/display_name = $t/" \
  -e 's/MAIN_ACCESS_KEY/MAINACCESSKEY0000001/' -e 's/MAIN_SECRET_KEY/mainsecret/' \
  -e 's/ALT_ACCESS_KEY/ALTACCESSKEY00000001/' -e 's/ALT_SECRET_KEY/altsecret/' \
  -e 's/TENANT_ACCESS_KEY/TENANTACCESSKEY00001/' -e 's/TENANT_SECRET_KEY/tenantsecret/' \
  "$tools/s3tests.conf.template" >"$work/s3tests.conf"
bash "$tools/run.sh" "$checkout" "$work/s3tests.conf" "$@"
