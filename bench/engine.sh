#!/usr/bin/env bash
# bench/engine.sh [ROUNDS]: berth's CLI against berthd, the docker CLI against berthd and the docker CLI against
# dockerd (20.10, overlay2), same busybox image, rotating who goes first, in one run: `run --rm busybox true`,
# 50 detached sleepers started in sequence, `exec`, idle daemon RSS, per-container shim RSS/PSS. Private daemons
# with their own roots and sockets.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
[ -x build/cmd/berthd/berthd ] || bash scripts/build.sh >/dev/null
command -v dockerd >/dev/null || { echo "bench: dockerd is not installed (apt-get install docker.io)" >&2; exit 1; }
exec /usr/bin/python3 bench/engine_bench.py "${1:-20}"
