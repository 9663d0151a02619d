#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a working install: dependencies, build, the
# `editclip` CLI (+ engine library) under PREFIX, and the GIMP 2.10 plug-in.
#
#   install/setup.sh             CLI -> ~/.local (bin/editclip, lib/libeditclip.so)
#                                plug-in -> your GIMP 2.10 profile: $GIMP2_DIRECTORY, else
#                                ${XDG_CONFIG_HOME:-~/.config}/GIMP/2.10, in plug-ins/editclip-gimp/
#   install/setup.sh --system    CLI -> /usr/local, plug-in -> GIMP's system plug-ins folder
#                                (gimptool-2.0 --gimpplugindir)/plug-ins, for all users (root/sudo)
#   install/setup.sh --uninstall [--system]   removes both again
#   options: --prefix=DIR (CLI prefix), --gimp-plugin-dir=DIR (a GIMP plug-ins folder),
#            --no-gimp (CLI only: no GIMP packages, no plug-in)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX="${HOME}/.local"
BUILD="${EDITCLIP_BUILD_DIR:-${ROOT}/build}"
UNINSTALL=0
SYSTEM=0
WITH_GIMP="${EDITCLIP_WITH_GIMP:-1}"
PLUGIN_DIR=""
for arg in "$@"; do
  case "$arg" in
    --system) SYSTEM=1; PREFIX=/usr/local ;;
    --prefix=*) PREFIX="${arg#--prefix=}" ;;
    --gimp-plugin-dir=*) PLUGIN_DIR="${arg#--gimp-plugin-dir=}" ;;
    --no-gimp) WITH_GIMP=0 ;;
    --uninstall) UNINSTALL=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "setup: unknown option $arg" >&2; exit 2 ;;
  esac
done

if [[ -z "$PLUGIN_DIR" ]]; then
  if [[ $SYSTEM == 1 ]]; then
    gimplib=$(gimptool-2.0 --gimpplugindir 2>/dev/null ||
              pkg-config --variable=gimplibdir gimp-2.0 2>/dev/null || echo /usr/lib/gimp/2.0)
    PLUGIN_DIR="${gimplib}/plug-ins"
  else
    PLUGIN_DIR="${GIMP2_DIRECTORY:-${XDG_CONFIG_HOME:-${HOME}/.config}/GIMP/2.10}/plug-ins"
  fi
fi
MODE=$([[ $SYSTEM == 1 ]] && echo system || echo user)
MANIFEST="${BUILD}/install_manifest-${MODE}.txt"

if [[ $UNINSTALL == 1 ]]; then
  # The manifest of the last install of this kind, plus the known paths (works without a build).
  {
    [[ -f "$MANIFEST" ]] && cat "$MANIFEST"
    printf '%s\n' "${PREFIX}/bin/editclip" "${PREFIX}"/lib/libeditclip.so* \
      "${PLUGIN_DIR}/editclip-gimp/editclip-gimp" "${PLUGIN_DIR}/editclip-gimp/libeditclip-gimp-engine.so" \
      "${PLUGIN_DIR}"/editclip-gimp/libeditclip.so*
  } | sort -u | while IFS= read -r f; do
    [[ -e "$f" || -L "$f" ]] && rm -fv -- "$f"
  done
  rm -rf -- "${PREFIX}/share/editclip/models"
  rmdir --ignore-fail-on-non-empty -- "${PREFIX}/share/editclip" "${PLUGIN_DIR}/editclip-gimp" \
    2>/dev/null || true
  rm -f -- "$MANIFEST"
  echo "setup: removed the CLI from ${PREFIX} and the plug-in from ${PLUGIN_DIR}/editclip-gimp"
  echo "       (your settings ~/.config/editclip and saved presets in the GIMP profile are kept)"
  exit 0
fi

EDITCLIP_WITH_GIMP="$WITH_GIMP" "${ROOT}/install/install-deps.sh"
gimp_flags=(-DEDITCLIP_WITH_GIMP=OFF)
[[ $WITH_GIMP == 1 ]] && gimp_flags=(-DEDITCLIP_WITH_GIMP=ON "-DEDITCLIP_GIMP_PLUGIN_DIR=${PLUGIN_DIR}")
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$PREFIX" \
      -DEDITCLIP_BUILD_TESTS=ON "${gimp_flags[@]}"
cmake --build "$BUILD" -j"$(nproc)"
cmake --install "$BUILD"
cp "${BUILD}/install_manifest.txt" "$MANIFEST"
echo "setup: installed editclip into ${PREFIX}/bin (make sure it is on your PATH)"
if [[ $WITH_GIMP == 1 ]]; then
  if [[ -x "${PLUGIN_DIR}/editclip-gimp/editclip-gimp" ]]; then
    echo "setup: installed the GIMP plug-in into ${PLUGIN_DIR}/editclip-gimp;" \
         "restart GIMP 2.10 and find it under Filters > EditCLIP"
  else
    echo "setup: the GIMP plug-in was not built (libgimp2.0-dev missing?)" >&2
  fi
fi
