#!/usr/bin/env bash
# Builds cistern and runs the whole test suite: unit, integration (real nginx on loopback) and
# end-to-end (real pip installing from a mirror cistern wrote). The command .ci/run calls.
#   tools/run_tests.sh                      build in ./build and run every test
#   tools/run_tests.sh -L unit              extra arguments go to ctest
#   SANITIZE=address,undefined tools/run_tests.sh -L 'unit|integration'
#                                           Debug build with sanitizers in ./build-address,undefined
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}
sanitize=${SANITIZE:-}
if [[ -n $sanitize ]]; then
  build_dir=${BUILD_DIR:-build-$sanitize}
  config=(-DCMAKE_BUILD_TYPE=Debug -DCISTERN_SANITIZE="$sanitize" -DCISTERN_BUILD_BENCH=OFF)
else
  build_dir=${BUILD_DIR:-build}
  config=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
fi

cmake -S . -B "$build_dir" -G Ninja -DCISTERN_WERROR=ON "${config[@]}" >/dev/null
cmake --build "$build_dir" -j "$jobs"
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" --timeout 900 "$@"
