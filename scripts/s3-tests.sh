#!/usr/bin/env bash
# Runs ceph/s3-tests (with the marker selection in ../shared/tools/s3-tests)
# against the S3 handler served standalone from the s3 package's test binary
# (TestCrashChild), with three projects: main, alt, tenant. The user ids and
# display names in the generated config are the project ids, which is what
# the handler reports as owner.
# usage: scripts/s3-tests.sh S3TESTS_CHECKOUT [extra pytest args]
#   S3TESTS_CHECKOUT: a checkout of github.com/ceph/s3-tests
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools=${S3TESTS_TOOLS:-$root/../shared/tools/s3-tests}
checkout=$1; shift
port=${S3TESTS_PORT:-9777}
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
(cd "$root" && go test -c -o "$work/s3.test" ./internal/s3)
mkdir -p "$work/data"
STOWAGE_S3_CRASH_CHILD="$work/data" STOWAGE_S3_ADDR="127.0.0.1:$port" \
  STOWAGE_S3_KEYS=main:MAINACCESSKEY0000001:mainsecret,alt:ALTACCESSKEY00000001:altsecret,tenant:TENANTACCESSKEY00001:tenantsecret \
  "$work/s3.test" -test.run '^TestCrashChild$' -test.timeout 0 >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q '^ADDR' "$work/server.log" && break; sleep 0.1; done
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
