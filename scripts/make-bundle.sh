#!/usr/bin/env bash
# make-bundle.sh DIR [ARGS...]: an OCI bundle whose rootfs is Debian's busybox-static (no network needed).
set -euo pipefail
dir=$1
shift
bin=$(cd "$(dirname "$0")/.." && pwd)/build/cmd/berth-runtime/berth-runtime
rm -rf "$dir"
mkdir -p "$dir/rootfs"/{bin,etc,tmp,proc,sys,dev,root}
chmod 1777 "$dir/rootfs/tmp"
cp /bin/busybox "$dir/rootfs/bin/busybox"
for applet in $("$dir/rootfs/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$dir/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$dir/rootfs/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' >"$dir/rootfs/etc/group"
"$bin" spec --bundle "$dir"
args='["sh"]'
if [ $# -gt 0 ]; then
  args=$(printf '%s\n' "$@" | python3 -c 'import json,sys; print(json.dumps([l.rstrip("\n") for l in sys.stdin]))')
fi
python3 - "$dir/config.json" "$args" <<'PY'
import json, sys
path, args = sys.argv[1], json.loads(sys.argv[2])
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = args
json.dump(c, open(path, "w"), indent=2)
PY
