#!/usr/bin/env bash
# Installs the Debian 12 packages cistern needs to build, test and benchmark.
# Used by .ci/run and tools/demo.sh; safe to run again (apt-get skips what is installed).
set -euo pipefail

packages=(
  # toolchain
  g++ cmake ninja-build pkg-config
  # libraries (../shared/docs/toolchain-notes.md)
  libasio-dev libssl-dev librocksdb-dev libsimdjson-dev libspdlog-dev libcli11-dev
  libexpected-dev libtomlplusplus-dev libnghttp2-dev libxxhash-dev zlib1g-dev node-llhttp
  libgtest-dev libgmock-dev libbenchmark-dev libb2-dev
  # test upstream, end-to-end and benchmarks: real nginx, TLS tooling, h2load, curl, pip;
  # tinyproxy for the proxy tests (they skip without it)
  nginx-light openssl nghttp2-client curl python3 tinyproxy
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} > 0)); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The end-to-end tests run real pip; the machine's python3 usually has it.
if ! python3 -m pip --version >/dev/null 2>&1; then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-pip
fi
