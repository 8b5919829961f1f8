#!/usr/bin/env bash
# bench/runtime.sh [N]: berth-runtime vs crun vs runc on the same busybox bundle, alternating, in one run.
# Prints the median wall time of `run` (/bin/true) and of create+start+delete, and berth's ratio to each.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-50}
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
berth=$PWD/build/cmd/berth-runtime/berth-runtime
[ -x "$berth" ] || bash scripts/build.sh >/dev/null
declare -A bins=([berth]=$berth)
command -v crun >/dev/null && bins[crun]=$(command -v crun)
command -v runc >/dev/null && bins[runc]=$(command -v runc)
# crun 1.8 refuses hybrid hosts whose v2 hierarchy still holds a controller (hugetlb here): bind hugetlb to v1.
if [ -n "${bins[crun]:-}" ] && grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; then
  echo "note: mounting the hugetlb controller as cgroup v1 so that crun accepts this hybrid host"
  mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
fi
work=$(mktemp -d /tmp/berth-bench-XXXXXX)
cleanup() {
  for d in /sys/fs/cgroup/*/berth-bench; do
    [ -d "$d" ] || continue
    find "$d" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true
    rmdir "$d" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
bash scripts/make-bundle.sh "$work/bundle" /bin/true >/dev/null
# crun on a v1/v2 hybrid host needs an explicit cgroupsPath; give every runtime the same one.
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["linux"]["cgroupsPath"] = "/berth-bench/placeholder"
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
now() { date +%s%N; }
declare -A runT cycleT
i=0
for ((n = 0; n < N; n++)); do
  for rt in "${!bins[@]}"; do
    bin=${bins[$rt]}
    id="b$rt$n"
    sed -i "s#\"cgroupsPath\": \"[^\"]*\"#\"cgroupsPath\": \"/berth-bench/$id\"#" "$work/bundle/config.json"
    t0=$(now)
    "$bin" --root "$work/state-$rt" run --bundle "$work/bundle" "$id" >/dev/null
    t1=$(now)
    runT[$rt]+="$(( (t1 - t0) / 1000 )) "
    id="c$rt$n"
    sed -i "s#\"cgroupsPath\": \"[^\"]*\"#\"cgroupsPath\": \"/berth-bench/$id\"#" "$work/bundle/config.json"
    t0=$(now)
    "$bin" --root "$work/state-$rt" create --bundle "$work/bundle" "$id" >/dev/null
    "$bin" --root "$work/state-$rt" start "$id"
    "$bin" --root "$work/state-$rt" delete --force "$id"
    t1=$(now)
    cycleT[$rt]+="$(( (t1 - t0) / 1000 )) "
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m/1000}'; }
echo "berth-runtime benchmark: $N alternating rounds, busybox /bin/true, $(nproc) cores, $(uname -r)"
printf '%-8s %12s %22s\n' runtime "run (ms)" "create+start+delete (ms)"
declare -A mr mc
for rt in berth crun runc; do
  [ -n "${bins[$rt]:-}" ] || continue
  mr[$rt]=$(echo "${runT[$rt]}" | median)
  mc[$rt]=$(echo "${cycleT[$rt]}" | median)
  printf '%-8s %12s %22s\n' "$rt" "${mr[$rt]}" "${mc[$rt]}"
done
for rt in crun runc; do
  [ -n "${bins[$rt]:-}" ] || continue
  awk -v a="${mr[berth]}" -v b="${mr[$rt]}" -v c="${mc[berth]}" -v d="${mc[$rt]}" -v r="$rt" \
    'BEGIN {printf "berth/%s: run %.2fx, create+start+delete %.2fx\n", r, a/b, c/d}'
done
