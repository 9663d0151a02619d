#!/usr/bin/env bash
# The whole test suite from a clean clone: dependencies, build, then CTest (unit tests, the
# data-driven parity runner over tests/fixtures (or $EDITCLIP_FIXTURES), CLI tests, and the GIMP
# plug-in in real GIMP).
# Nothing is skipped silently: without GIMP (libgimp2.0-dev, gimp) or, for the dialog tests, Xvfb
# and D-Bus, the configuration or the GIMP tests fail. To leave them out on purpose:
#   EDITCLIP_WITH_GIMP=0      no GIMP packages, no plug-in, no plug-in tests
#   EDITCLIP_GIMP_GUI_TESTS=0 the plug-in's headless tests only, without its dialogs under Xvfb
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${EDITCLIP_BUILD_DIR:-${ROOT}/build-tests}"
"${ROOT}/install/install-deps.sh"
with_gimp=ON
[[ "${EDITCLIP_WITH_GIMP:-1}" == 1 ]] || with_gimp=OFF
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DEDITCLIP_BUILD_TESTS=ON \
      -DEDITCLIP_WITH_GIMP="$with_gimp"
cmake --build "$BUILD" -j"$(nproc)"
cd "$BUILD"
ctest --output-on-failure -j"$(nproc)" --timeout 1500
