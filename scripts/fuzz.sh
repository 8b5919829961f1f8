#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang-16, ASan and UBSan into build-fuzz/, then runs each
# for SECS seconds (default 20) from its seed corpus in tests/fuzz/corpus/<target>. A crash, leak, timeout
# or sanitizer report fails the run and leaves its input in build-fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
# Every run first replays the whole corpus, past findings included (regress-*), so a regression fails for sure.
# The exploration after it uses a fixed seed (FUZZ_SEED=0 for a random one), which narrows but does not remove
# the difference between two machines' walks (the order a directory lists the corpus in differs): run it long
# with random seeds before landing a change to a parser, and add what it finds to the corpus as regress-*.
seed=${FUZZ_SEED:-1}
CC=clang-16 CXX=clang++-16 cmake -S . -B build-fuzz -G Ninja -DBERTH_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build-fuzz fuzzers
mkdir -p build-fuzz/artifacts
targets=(fuzz_http_request fuzz_json_body fuzz_manifest fuzz_reference fuzz_gotemplate fuzz_oci_config fuzz_unpack)
for t in "${targets[@]}"; do
  # New inputs go to a scratch copy; the seeds in the repository stay as they are.
  work=$(mktemp -d)
  cp -r "tests/fuzz/corpus/$t/." "$work/"
  echo "== $t (${secs}s)"
  log=build-fuzz/artifacts/$t.log
  if ! ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      "build-fuzz/tests/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=262144 \
      -seed="$seed" -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$t-" "$work" >"$log" 2>&1; then
    rm -rf "$work"
    tail -n 60 "$log"
    echo "fuzz: $t failed; the input is in build-fuzz/artifacts/ (reproduce: build-fuzz/tests/fuzz/$t <file>)" >&2
    exit 1
  fi
  rm -rf "$work"
  grep -E "^Done|number_of_executed_units|peak_rss" "$log" || true
done
echo "fuzz: ${#targets[@]} targets, ${secs}s each, no findings"
