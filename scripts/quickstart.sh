#!/usr/bin/env bash
# One command on a fresh Debian 12 machine (as root): install, build, and run a container from a
# busybox bundle made from Debian's busybox-static. No network access is needed beyond apt.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "quickstart: run as root (containers need namespaces and cgroups)" >&2; exit 1; }
bash scripts/deps.sh
bash scripts/build.sh >/dev/null
bash scripts/make-bundle.sh build/demo-bundle sh -c 'echo "hello from a berth container: $(hostname), pid $$, $(id -un)"'
exec build/cmd/berth-runtime/berth-runtime run --bundle build/demo-bundle "demo-$$"
