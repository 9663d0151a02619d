#!/usr/bin/env bash
# Time from a PDB call (what OK starts) to the first denoising step, for the installed plug-in in
# gimp-console, with the real (or random full-size) weights.
#
#   measure_timing.sh BUILD_DIR CLIP_DIR EDITOR_DIR [--cold] [--size N] [--runs K]
#
# --cold drops the page cache first (needs root; says so when it is not allowed). The profile is
# initialised by a first GIMP start that is not measured, so plug-in registration is not counted.
# Prints the plug-in's EDITCLIP_GIMP_TIMING marks (seconds since run() began; "process-age" is
# how long the plug-in process existed before run()).
set -euo pipefail
BUILD="$1" CLIP="$2" EDITOR="$3"; shift 3
COLD=0 SIZE=256 RUNS=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cold) COLD=1 ;;
    --size) SIZE="$2"; shift ;;
    --runs) RUNS="$2"; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
W=$(mktemp -d "${TMPDIR:-/tmp}/editclip-gimp-timing.XXXXXX")
trap 'rm -rf "$W"' EXIT
DESTDIR="$W/dest" cmake --install "$BUILD" --component gimp_plugin > /dev/null
BIN=$(find "$W/dest" -path '*/editclip-gimp/editclip-gimp' -type f | head -1)
printf '(plug-in-path "${gimp_dir}/plug-ins:${gimp_plug_in_dir}/plug-ins:%s")\n' \
  "$(dirname "$(dirname "$BIN")")" > "$W/gimprc"
export GIMP2_DIRECTORY="$W/profile" HOME="$W/home" XDG_CONFIG_HOME="$W/home/.config"
export XDG_CACHE_HOME="$W/home/.cache" XDG_DATA_HOME="$W/home/.local/share"
export EDITCLIP_SETTINGS="$W/settings.json" EDITCLIP_CLIP_DIR="$CLIP" EDITCLIP_EDITOR_DIR="$EDITOR"
gimp() { timeout --kill-after=10 900 gimp-console-2.10 --gimprc="$W/gimprc" -i -d -f -n "$@"; }
gimp -b '(gimp-quit 0)' > /dev/null 2>&1  # registration, not measured

SCRIPT="(let* ((img (car (gimp-image-new 512 512 RGB)))
               (b (car (gimp-layer-new img 512 512 RGB-IMAGE \"before\" 100 LAYER-MODE-NORMAL)))
               (a (car (gimp-layer-new img 512 512 RGB-IMAGE \"after\" 100 LAYER-MODE-NORMAL)))
               (q (car (gimp-layer-new img 512 512 RGB-IMAGE \"query\" 100 LAYER-MODE-NORMAL))))
          (gimp-image-insert-layer img b 0 0) (gimp-image-insert-layer img a 0 0)
          (gimp-image-insert-layer img q 0 0)
          (plug-in-plasma RUN-NONINTERACTIVE img b 1 2.0) (plug-in-plasma RUN-NONINTERACTIVE img a 2 2.0)
          (plug-in-plasma RUN-NONINTERACTIVE img q 3 2.0)
          (plug-in-editclip-apply RUN-NONINTERACTIVE img q b a 2 7.0 1.5 1 $SIZE 0 0 \"\" 0)
          (gimp-image-delete img))"
for run in $(seq "$RUNS"); do
  if [[ $COLD == 1 ]]; then
    if sync && echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then
      echo "run $run: page cache dropped"
    else
      echo "run $run: cannot drop the page cache here (not root?); this run is warm"
    fi
  else
    echo "run $run: warm"
  fi
  EDITCLIP_GIMP_TIMING=1 gimp -b "$SCRIPT" -b '(gimp-quit 0)' 2>&1 |
    grep -E "editclip-gimp timing|Error|error" || true
done
