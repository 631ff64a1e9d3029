#!/usr/bin/env bash
# Builds cistern and runs the whole test suite: unit, integration (real nginx on loopback) and
# end-to-end (real pip installing from a mirror cistern wrote). The command .ci/run calls.
#   tools/run_tests.sh            build in ./build and run every test
#   BUILD_DIR=... tools/run_tests.sh -L unit     extra arguments go to ctest
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCISTERN_WERROR=ON >/dev/null
cmake --build "$build_dir" -j "$jobs"
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" --timeout 900 "$@"
