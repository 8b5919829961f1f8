#!/usr/bin/env bash
# make-busybox-image.sh [BERTH] [REF]: creates the default image (busybox:latest) from Debian's busybox-static:
# every applet linked, /etc/passwd and /etc/group with root and nobody. No network needed.
set -euo pipefail
berth=${1:-$(cd "$(dirname "$0")/.." && pwd)/build/cmd/berth/berth}
ref=${2:-busybox:latest}
[ -x /bin/busybox ] || { echo "make-busybox-image: /bin/busybox missing (apt-get install busybox-static)" >&2; exit 1; }
work=$(mktemp -d /tmp/berth-busybox-XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"/{bin,etc,tmp,proc,sys,dev,root,home,var/spool/mail,var/www,usr/sbin,usr/bin,sbin}
chmod 1777 "$root/tmp"
chmod 700 "$root/root"
cp /bin/busybox "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"
# Reproducible: fixed times and owners, sorted names, so the same busybox gives the same image ID.
find "$root" -exec touch -h -d '2024-01-01T00:00:00Z' {} +
tar --sort=name --numeric-owner --owner=0 --group=0 --mtime='2024-01-01 00:00:00Z' -C "$root" -cf "$work/rootfs.tar" .
"$berth" import --change 'CMD ["sh"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -m "busybox-static $(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || echo unknown) from Debian" \
  "$work/rootfs.tar" "$ref"
