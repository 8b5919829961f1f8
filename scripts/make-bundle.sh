#!/usr/bin/env bash
# make-bundle.sh DIR [ARGS...]: an OCI bundle whose rootfs is Debian's busybox-static (no network needed).
set -euo pipefail
dir=$1
shift
bin=$(cd "$(dirname "$0")/.." && pwd)/build/cmd/berth-runtime/berth-runtime
rm -rf "$dir"
bash "$(dirname "$0")/busybox-rootfs.sh" "$dir/rootfs"
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
