#!/usr/bin/env bash
# One command on a fresh Debian 12 machine (as root): install, build, create the default image
# (busybox:latest from Debian's busybox-static) and run a container from it. No network beyond apt.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "quickstart: run as root (containers need namespaces and cgroups)" >&2; exit 1; }
bash scripts/deps.sh
bash scripts/build.sh >/dev/null
berth=build/cmd/berth/berth
if ! "$berth" image inspect busybox:latest >/dev/null 2>&1; then
  bash scripts/make-busybox-image.sh "$berth" >/dev/null
fi
"$berth" images busybox
exec "$berth" run --rm busybox sh -c 'echo "hello from a berth container: $(hostname), pid $$, $(id -un)"'
