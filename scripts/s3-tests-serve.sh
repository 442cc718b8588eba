#!/usr/bin/env bash
# Runs ceph/s3-tests against a built `stowage serve` (the binary users run,
# not a test binary) on free ports, with three projects: main (the default
# project), alt and tenant, each with an S3 key made through the CLI. The
# user ids and display names in the generated config are the project ids,
# which is what S3 reports as owner.
# usage: S3TESTS_TOOLS=DIR scripts/s3-tests-serve.sh S3TESTS_CHECKOUT [extra pytest args]
#   STOWAGE_BIN: the binary to run (default: built from this tree)
#   S3TESTS_TOOLS: as for scripts/s3-tests.sh (run.sh, markers.txt, s3tests.conf.template)
#   STOWAGE_SERVE_ARGS: more flags for `stowage serve`
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
usage="usage: S3TESTS_TOOLS=DIR $0 S3TESTS_CHECKOUT [extra pytest args]"
tools=${S3TESTS_TOOLS:?$usage}
if [ $# -lt 1 ] || [ ! -d "$1/s3tests" ]; then
  echo "the first argument must be a checkout of github.com/ceph/s3-tests" >&2
  echo "$usage" >&2
  exit 2
fi
checkout=$1; shift
work=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; wait "${pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
bin=${STOWAGE_BIN:-}
if [ -z "$bin" ]; then
  bin=$work/stowage
  (cd "$root" && CGO_ENABLED=0 go build -o "$bin" ./cmd/stowage)
fi
export HOME=$work/home
mkdir -p "$HOME"
# shellcheck disable=SC2086
"$bin" serve --data-dir "$work/data" --listen 127.0.0.1:0 --s3-listen 127.0.0.1:0 --nbd-listen 127.0.0.1:0 \
  --nfs-listen 127.0.0.1:0 ${STOWAGE_SERVE_ARGS:-} >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 600); do [ -s "$work/data/addresses.json" ] && break; sleep 0.1; done
[ -s "$work/data/addresses.json" ] || { echo "stowage serve did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
addr() { /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$work/data/addresses.json" "$1"; }
api=$(addr api) s3=$(addr s3)
"$bin" login --endpoint "http://$api" --token "$(cat "$work/data/admin-token")" >/dev/null
main=$("$bin" project ls -q | head -n 1)
org=$("$bin" project show "$main" --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["organisation_id"])')
alt=$("$bin" project create alt --organisation "$org" -q)
tenant=$("$bin" project create tenant --organisation "$org" -q)
key() { "$bin" credential create --project "$1" --json; }
field() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
km=$(key "$main") ka=$(key "$alt") kt=$(key "$tenant")
# The SSE-KMS tests name two keys of the main project; S3 echoes a key's
# ARN, which is what they compare with.
kms1=$("$bin" kms create --project "$main" --alias testkey-1 --json | field arn)
kms2=$("$bin" kms create --project "$main" --alias testkey-2 --json | field arn)
sed -e "s/PORT/${s3##*:}/" \
  -e "s/MAIN_USER_ID/$main/" -e "s/ALT_USER_ID/$alt/" -e "s/TENANT_USER_ID/$tenant/" \
  -e "s/display_name = main/display_name = $main/" -e "s/display_name = alt/display_name = $alt/" -e "s/display_name = tenant/display_name = $tenant/" \
  -e "s/MAIN_ACCESS_KEY/$(echo "$km" | field access_key_id)/" -e "s|MAIN_SECRET_KEY|$(echo "$km" | field secret_access_key)|" \
  -e "s/ALT_ACCESS_KEY/$(echo "$ka" | field access_key_id)/" -e "s|ALT_SECRET_KEY|$(echo "$ka" | field secret_access_key)|" \
  -e "s/TENANT_ACCESS_KEY/$(echo "$kt" | field access_key_id)/" -e "s|TENANT_SECRET_KEY|$(echo "$kt" | field secret_access_key)|" \
  -e "s|^#kms_keyid = .*|kms_keyid = $kms1\nkms_keyid2 = $kms2|" \
  "$tools/s3tests.conf.template" >"$work/s3tests.conf"
bash "$tools/run.sh" "$checkout" "$work/s3tests.conf" "$@"
