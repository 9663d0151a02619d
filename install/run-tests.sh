#!/usr/bin/env bash
# The whole test suite from a clean clone: dependencies, build, then CTest (unit tests, the
# data-driven parity runner over tests/fixtures (or $EDITCLIP_FIXTURES), CLI tests).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${EDITCLIP_BUILD_DIR:-${ROOT}/build-tests}"
"${ROOT}/install/install-deps.sh"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DEDITCLIP_BUILD_TESTS=ON
cmake --build "$BUILD" -j"$(nproc)"
cd "$BUILD"
ctest --output-on-failure -j"$(nproc)" --timeout 1500
