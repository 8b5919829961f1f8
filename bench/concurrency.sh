#!/usr/bin/env bash
# bench/concurrency.sh [ROUNDS]: how `ps` and `inspect` answer while the daemon loads a 200 MB image and starts
# 20 containers at once, berthd against dockerd (20.10) in one run, private daemons with their own roots and
# sockets. Prints p50/p99/max of both, the starts' times and whether all succeeded; the target (issue 17):
# berthd's p99 <= 25 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
[ -x build/cmd/berthd/berthd ] || bash scripts/build.sh >/dev/null
command -v dockerd >/dev/null || { echo "bench: dockerd is not installed (apt-get install docker.io)" >&2; exit 1; }
exec /usr/bin/python3 bench/concurrency_bench.py "${1:-2}"
