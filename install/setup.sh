#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a working install: dependencies, build, and the
# `editclip` CLI (+ engine library) under PREFIX.
#
#   install/setup.sh             -> ~/.local (bin/editclip, lib/libeditclip.so)
#   install/setup.sh --system    -> /usr/local, for all users
#   install/setup.sh --uninstall [--system]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX="${HOME}/.local"
BUILD="${ROOT}/build"
UNINSTALL=0
for arg in "$@"; do
  case "$arg" in
    --system) PREFIX=/usr/local ;;
    --prefix=*) PREFIX="${arg#--prefix=}" ;;
    --uninstall) UNINSTALL=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "setup: unknown option $arg" >&2; exit 2 ;;
  esac
done

if [[ $UNINSTALL == 1 ]]; then
  manifest="${BUILD}/install_manifest.txt"
  [[ -f "$manifest" ]] || { echo "setup: nothing recorded in $manifest" >&2; exit 1; }
  xargs -d '\n' rm -fv < "$manifest"
  exit 0
fi

"${ROOT}/install/install-deps.sh"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$PREFIX" \
      -DEDITCLIP_BUILD_TESTS=ON
cmake --build "$BUILD" -j"$(nproc)"
cmake --install "$BUILD"
echo "setup: installed editclip into ${PREFIX}/bin (make sure it is on your PATH)"
