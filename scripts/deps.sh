#!/usr/bin/env bash
# Installs what berth needs to build and test on Debian 12 (run as root). Safe to run again.
set -euo pipefail
want_tests=${1:-}
pkgs=(build-essential cmake ninja-build pkg-config git
      libseccomp-dev libcap-dev nlohmann-json3-dev libcli11-dev libgtest-dev libssl-dev
      libarchive-dev libsqlite3-dev libboost-dev libnl-route-3-dev libnftables-dev
      busybox-static)
if [ "$want_tests" = "--tests" ]; then
  # Real hosts for the integration tests, and the runtimes the benchmark compares against.
  # The tests also call nft, ip, losetup/mkfs.ext4 and pgrep/pkill: listed, not assumed.
  pkgs+=(python3 python3-pytest python3-docker docker-compose tmux jq crun runc podman conmon containerd docker.io tar skopeo
         nftables iproute2 mount e2fsprogs procps wget
         clang-16 libclang-rt-16-dev)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
