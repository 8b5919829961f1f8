#!/usr/bin/env bash
# bench/images.sh [ROUNDS]: berth load/import/save vs docker load/import/save of the same ~200 MB,
# ~16,000-file image, alternating, in one run (a private dockerd on its own data root; no network needed).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
[ -x build/cmd/berth/berth ] || bash scripts/build.sh >/dev/null
command -v dockerd >/dev/null || { echo "bench: dockerd is not installed (apt-get install docker.io)" >&2; exit 1; }
exec /usr/bin/python3 bench/images_bench.py "${1:-5}"
