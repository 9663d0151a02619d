#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a working install: dependencies, build, the
# `editclip` CLI (+ engine library) under PREFIX, and the GIMP 2.10 plug-in.
#
#   install/setup.sh             CLI -> ~/.local (bin/editclip, lib/libeditclip.so)
#                                plug-in -> your GIMP 2.10 profile: $GIMP2_DIRECTORY, else
#                                ${XDG_CONFIG_HOME:-~/.config}/GIMP/2.10, in plug-ins/editclip-gimp/
#   install/setup.sh --system    CLI -> /usr/local, plug-in -> GIMP's system plug-ins folder
#                                (gimptool-2.0 --gimpplugindir)/plug-ins, for all users (root/sudo)
#   install/setup.sh --uninstall [--system]   removes what the install wrote (never your model
#                                weights, settings or presets)
#   options: --prefix=DIR (CLI prefix), --gimp-plugin-dir=DIR (a GIMP plug-ins folder),
#            --no-gimp (CLI only: no GIMP packages, no plug-in)
#   environment: EDITCLIP_BUILD_DIR (build folder, default build/), EDITCLIP_SKIP_DEPS=1 (do not
#            run install/install-deps.sh), EDITCLIP_GIMP_CONSOLE (default gimp-console-2.10)
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
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "setup: unknown option $arg" >&2; exit 2 ;;
  esac
done

# PROFILE: the user's GIMP profile when the plug-in goes into it (not for --system or an explicit
# --gimp-plugin-dir).
PROFILE=""
if [[ -z "$PLUGIN_DIR" ]]; then
  if [[ $SYSTEM == 1 ]]; then
    gimplib=$(gimptool-2.0 --gimpplugindir 2>/dev/null ||
              pkg-config --variable=gimplibdir gimp-2.0 2>/dev/null || echo /usr/lib/gimp/2.0)
    PLUGIN_DIR="${gimplib}/plug-ins"
  else
    PROFILE="${GIMP2_DIRECTORY:-${XDG_CONFIG_HOME:-${HOME}/.config}/GIMP/2.10}"
    PLUGIN_DIR="${PROFILE}/plug-ins"
  fi
fi
MODE=$([[ $SYSTEM == 1 ]] && echo system || echo user)
MANIFEST="${BUILD}/install_manifest-${MODE}.txt"
SHARE="${PREFIX}/share/editclip"

if [[ $UNINSTALL == 1 ]]; then
  # What the last install of this kind wrote (its manifest), plus the paths an install writes
  # (so it works without the build folder). share/editclip/models is where users put the weights
  # they download: of it only the config files that older installs shipped there are removed.
  list=$(mktemp)
  trap 'rm -f "$list"' EXIT
  {
    if [[ -f "$MANIFEST" ]]; then cat "$MANIFEST"; fi
    printf '%s\n' "${PREFIX}/bin/editclip" "${PREFIX}"/lib/libeditclip.so* \
      "${PLUGIN_DIR}/editclip-gimp/editclip-gimp" \
      "${PLUGIN_DIR}/editclip-gimp/libeditclip-gimp-engine.so" \
      "${PLUGIN_DIR}"/editclip-gimp/libeditclip.so*
    for config in "${ROOT}"/models/configs/*.json; do
      printf '%s\n' "${SHARE}/configs/${config##*/}" "${SHARE}/models/${config##*/}"
    done
  } | sort -u > "$list"
  removed=0
  while IFS= read -r f; do
    [[ -n "$f" ]] || continue
    if [[ "$f" == "${SHARE}/models/"* && ! -f "${ROOT}/models/configs/${f#"${SHARE}/models/"}" ]]
    then
      continue  # not a shipped config: user data
    fi
    if [[ -e "$f" || -L "$f" ]]; then
      rm -f -- "$f"
      echo "setup: removed $f"
      removed=$((removed + 1))
    fi
  done < "$list"
  # Folders go only when empty.
  for d in "${SHARE}/configs" "${SHARE}/models" "${SHARE}" "${PLUGIN_DIR}/editclip-gimp"; do
    if [[ -d "$d" ]] && rmdir -- "$d" 2>/dev/null; then echo "setup: removed empty folder $d"; fi
  done
  rm -f -- "$MANIFEST"
  if [[ $removed == 0 ]]; then
    echo "setup: nothing to uninstall: no EditCLIP files in ${PREFIX} or ${PLUGIN_DIR}/editclip-gimp"
  else
    echo "setup: uninstalled ($removed files)"
  fi
  kept="your settings (~/.config/editclip) and the presets saved in your GIMP profile are kept"
  if [[ -d "${SHARE}/models" ]]; then kept+="; so are the model weights in ${SHARE}/models"; fi
  echo "setup: ${kept}"
  exit 0
fi

# GIMP sets a profile up (brushes/, scripts/, gradients/ ... and a 2.8 profile's migration) only
# when its folder does not exist yet; installing the plug-in first would create it and make GIMP
# skip all that. So a new profile is made by GIMP itself first: console GIMP, no display, no data
# or fonts loaded, a new instance, quit at once.
prepare_gimp_profile() {
  [[ -n "$PROFILE" && ! -d "$PROFILE" ]] || return 0
  local gimp="${EDITCLIP_GIMP_CONSOLE:-gimp-console-2.10}"
  if ! command -v "$gimp" > /dev/null; then
    echo "setup: GIMP 2.10 is not installed ($gimp not found), so the plug-in was NOT installed:" \
         "creating ${PROFILE} now would keep GIMP from setting up your profile when it first" \
         "starts. Install GIMP 2.10 (sudo apt-get install gimp), then run install/setup.sh" \
         "again (or pass --gimp-plugin-dir=DIR)." >&2
    return 1
  fi
  echo "setup: ${PROFILE} does not exist yet: letting GIMP set up your profile first"
  mkdir -p "$BUILD"
  timeout --kill-after=10 300 "$gimp" -i -d -f -n -b '(gimp-quit 0)' < /dev/null \
    > "${BUILD}/gimp-profile-setup.log" 2>&1 || true
  if [[ ! -d "$PROFILE" ]]; then
    echo "setup: GIMP did not create ${PROFILE} (see ${BUILD}/gimp-profile-setup.log), so the" \
         "plug-in was NOT installed. Start GIMP 2.10 once, quit it, and run install/setup.sh" \
         "again." >&2
    return 1
  fi
}

if [[ "${EDITCLIP_SKIP_DEPS:-0}" != 1 ]]; then
  EDITCLIP_WITH_GIMP="$WITH_GIMP" "${ROOT}/install/install-deps.sh"
fi
gimp_flags=(-DEDITCLIP_WITH_GIMP=OFF)
[[ $WITH_GIMP == 1 ]] && gimp_flags=(-DEDITCLIP_WITH_GIMP=ON "-DEDITCLIP_GIMP_PLUGIN_DIR=${PLUGIN_DIR}")
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$PREFIX" \
      -DEDITCLIP_BUILD_TESTS=OFF "${gimp_flags[@]}"
cmake --build "$BUILD" -j"$(nproc)"
# The CLI, its library and the shipped configs (install() rules without a component), then the
# plug-in (component gimp_plugin) once its destination is ready.
rm -f "${BUILD}"/install_manifest_*.txt
cmake --install "$BUILD" --component Unspecified
echo "setup: installed editclip into ${PREFIX}/bin (make sure it is on your PATH)"
status=0
if [[ $WITH_GIMP == 1 ]]; then
  if prepare_gimp_profile; then
    cmake --install "$BUILD" --component gimp_plugin
    if [[ -x "${PLUGIN_DIR}/editclip-gimp/editclip-gimp" ]]; then
      echo "setup: installed the GIMP plug-in into ${PLUGIN_DIR}/editclip-gimp;" \
           "restart GIMP 2.10 and find it under Filters > EditCLIP"
    else
      echo "setup: the GIMP plug-in was not built (libgimp2.0-dev missing?)" >&2
      status=1
    fi
  else
    status=1
  fi
fi
for m in "${BUILD}"/install_manifest_*.txt; do
  if [[ -f "$m" ]]; then cat "$m"; echo; fi
done > "$MANIFEST"
exit $status
