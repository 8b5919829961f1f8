#!/usr/bin/env bash
# One command on a fresh Debian 12 machine (as root): install, build (plain and ASan/UBSan), run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh --tests
bash scripts/build.sh
bash scripts/build.sh --sanitize
echo "== unit, privileged and conformance tests (ASan/UBSan build)"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j1)
echo "== the same suites on the release build"
(cd build && ctest --output-on-failure -j1)
echo "== fuzzing: each libFuzzer target for 20 s (clang, ASan/UBSan; a finding fails)"
bash scripts/fuzz.sh 20
echo "== integration: berth-runtime under podman, containerd and dockerd (release build)"
/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration
echo "== attack suite: what an attacker in a container or a local user tries (release build)"
/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/security
echo "== integration: berthd built with ASan/UBSan (reports fail the tests)"
BERTHD="$PWD/build-asan/cmd/berthd/berthd" ASAN_OPTIONS=detect_leaks=1 \
  /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_daemon*.py
