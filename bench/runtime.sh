#!/usr/bin/env bash
# bench/runtime.sh [ROUNDS]: berth-runtime vs crun vs runc on the same busybox bundle, alternating, in one run.
# Medians of `run` (/bin/true) and of create+start+delete wall time, and berth's ratios to the others.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
[ -x build/cmd/berth-runtime/berth-runtime ] || bash scripts/build.sh >/dev/null
# crun 1.8 refuses hybrid hosts whose v2 hierarchy still holds a controller (hugetlb here): bind hugetlb to v1.
if command -v crun >/dev/null && grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; then
  echo "note: mounting the hugetlb controller as cgroup v1 so that crun accepts this hybrid host"
  mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
fi
work=$(mktemp -d /tmp/berth-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
bash scripts/make-bundle.sh "$work/bundle" /bin/true >/dev/null
exec /usr/bin/python3 bench/runtime_bench.py "$work" "${1:-100}"
