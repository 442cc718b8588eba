#!/usr/bin/env bash
# Installs the Debian packages the test suite drives (real clients, real
# servers), only when missing, so a second `make test` starts at once.
set -euo pipefail
pkgs=(
  postgresql                             # sqlstore on PostgreSQL, schema lockstep
  qemu-utils libnbd-bin nbdkit           # NBD interop: qemu-img/qemu-io, nbdinfo/nbdcopy/nbdfuse, nbdkit peer
  fio fuse3 e2fsprogs kmod               # block benchmarks, nbdfuse + mkfs.ext4
  libnfs-utils                           # NFS interop: nfs-cp/nfs-ls/nfs-cat against filesystem volumes
  awscli python3-boto3 s3cmd rclone      # S3 clients
  python3-pytest python3-pytest-timeout python3-munch python3-isodate python3-tz  # ceph/s3-tests (scripts/s3-tests*.sh)
  wrk                                    # control-plane load under test/load
  tmux                                   # the CLI's progress bar on a real terminal
  ceph-mon ceph-osd ceph-mgr ceph-common # throwaway Ceph for the RBD backend (scripts/test-ceph.sh; the mgr reports capacity)
  librbd-dev librados-dev                # cgo build of the ceph-tagged binary (make build-ceph)
  ceph-mds libcephfs-dev                 # filesystem volumes on CephFS (the test cluster's MDS; libcephfs for the build)
  radosgw                                # Ceph's S3 gateway, the peer of bench/s3/radosgw.sh
  haproxy                                # the load balancer in front of three nodes (test/cluster)
  curl ca-certificates jq                # the README's commands, run by test/readme
  prometheus                             # promtool checks the alert rules in deploy/prometheus
  chromium                               # the web console in a real browser (test/console, chromedp)
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing test tools: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
