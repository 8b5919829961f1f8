#!/usr/bin/env bash
# make-busybox-image.sh [BERTH] [REF]: creates the default image (busybox:latest) from Debian's busybox-static:
# every applet linked, /etc/passwd and /etc/group with root and nobody. No network needed.
set -euo pipefail
berth=${1:-$(cd "$(dirname "$0")/.." && pwd)/build/cmd/berth/berth}
ref=${2:-busybox:latest}
work=$(mktemp -d /tmp/berth-busybox-XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
bash "$(dirname "$0")/busybox-rootfs.sh" "$root"
# Reproducible: fixed times and owners, sorted names, so the same busybox gives the same image ID.
find "$root" -exec touch -h -d '2024-01-01T00:00:00Z' {} +
tar --sort=name --numeric-owner --owner=0 --group=0 --mtime='2024-01-01 00:00:00Z' -C "$root" -cf "$work/rootfs.tar" .
"$berth" import --change 'CMD ["sh"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -m "busybox-static $(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || echo unknown) from Debian" \
  "$work/rootfs.tar" "$ref"
