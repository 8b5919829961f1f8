#!/usr/bin/env bash
# busybox-rootfs.sh DIR: a root filesystem from Debian's busybox-static in DIR (every applet linked,
# /etc/passwd and /etc/group with root and nobody). Used for the default image and the test bundles.
set -euo pipefail
root=$1
[ -x /bin/busybox ] || { echo "busybox-rootfs: /bin/busybox missing (apt-get install busybox-static)" >&2; exit 1; }
mkdir -p "$root"/{bin,etc,tmp,proc,sys,dev,root,home,var/spool/mail,var/www,usr/sbin,usr/bin,sbin}
chmod 1777 "$root/tmp"
chmod 700 "$root/root"
cp /bin/busybox "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"
