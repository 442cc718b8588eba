#!/usr/bin/env bash
# Builds the Debian package with dpkg-deb from a built binary: the binary,
# the systemd unit, the default config (a conffile) and maintainer scripts
# that create the stowage user. Usage: build-deb.sh BINARY VERSION OUTDIR;
# prints the .deb's path.
set -euo pipefail
bin=$1 version=$2 out=$3
root=$(cd "$(dirname "$0")/.." && pwd)
arch=$(dpkg --print-architecture)
# Debian versions start with a digit: v1.2.3 → 1.2.3; a bare commit
# (no tag yet) → 0.0~git<commit>; git describe's -dirty and -N-gHASH keep
# their order with ~ and +.
v=${version#v}
[[ $v =~ ^[0-9] ]] || v="0.0~git$v"
v=${v//-dirty/+dirty}
v=${v//-/+}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
install -D -m 0755 "$bin" "$stage/usr/bin/stowage"
install -D -m 0644 "$root/deploy/systemd/stowage.service" "$stage/lib/systemd/system/stowage.service"
install -D -m 0640 "$root/deploy/stowage.toml" "$stage/etc/stowage/stowage.toml"
install -D -m 0644 "$root/LICENSE" "$stage/usr/share/doc/stowage/copyright"
install -D -m 0644 "$root/docs/operations.md" "$stage/usr/share/doc/stowage/operations.md"
for f in grafana-dashboard.json alerts.yml; do
  install -D -m 0644 "$root/deploy/monitoring/$f" "$stage/usr/share/doc/stowage/monitoring/$f"
done
install -d -m 0755 "$stage/DEBIAN"
install -m 0755 "$root"/deploy/debian/{postinst,prerm,postrm} "$stage/DEBIAN/"
echo /etc/stowage/stowage.toml >"$stage/DEBIAN/conffiles"
cat >"$stage/DEBIAN/control" <<CONTROL
Package: stowage
Version: $v
Architecture: $arch
Maintainer: Stowage developers <stowage@localhost>
Depends: adduser
Section: net
Priority: optional
Installed-Size: $(du -sk "$stage/usr" | cut -f1)
Homepage: https://github.com/stowage/stowage
Description: self-hosted storage cloud in one binary
 Block volumes over NBD, filesystem volumes over NFS and S3 object storage,
 with a native API and provider dialects, on SQLite or PostgreSQL.
CONTROL
mkdir -p "$out"
deb="$out/stowage_${v}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
