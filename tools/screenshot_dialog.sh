#!/usr/bin/env bash
# Takes screenshots of the GIMP plug-in's dialogs under Xvfb, in real GIMP 2.10:
#   docs/images/apply-dialog.png     Filters > EditCLIP > Apply Exemplar Edit…
#   docs/images/settings-dialog.png  Filters > EditCLIP > Settings…
#   docs/images/apply-dialog-preset.png  the same, using a saved preset (computes one small edit
#                                    with the test fixtures' tiny models to get there)
#
#   tools/screenshot_dialog.sh [--build DIR] [--out DIR] [--images DIR] [--keep]
#
#   --build DIR   build folder with the plug-in (default: build-screenshot, configured and built
#                 here when it has no plug-in yet)
#   --out DIR     where the PNGs go (default: docs/images)
#   --images DIR  exemplar and query pictures: input_image.*, edited_image.* and query_image.*
#                 (default: the test fixtures' 64 px pictures, enlarged)
#   --keep        keep the temporary GIMP profile and log
#
# Nothing outside a temporary folder is touched: the plug-in is installed with DESTDIR into it,
# and GIMP runs with a throw-away profile, HOME and settings file. The dialogs save themselves
# (EDITCLIP_DIALOG_SNAPSHOT) and answer Cancel (EDITCLIP_DIALOG_AUTO), so no window manager,
# xdotool or screen grab is needed, and nothing is computed.
# Needs: gimp, xvfb (xvfb-run), xauth, dbus (dbus-run-session); gtk2-engines-pixbuf avoids theme
# warnings.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$REPO/build-screenshot"
OUT="$REPO/docs/images"
IMAGES=""
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD=$(realpath -m "$2"); shift 2 ;;
    --out) OUT=$(realpath -m "$2"); shift 2 ;;
    --images) IMAGES=$(realpath "$2"); shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done

for tool in gimp-2.10 xvfb-run dbus-run-session cmake; do
  command -v "$tool" >/dev/null || { echo "screenshot_dialog.sh: $tool is missing" >&2; exit 1; }
done

# ---- build and stage the plug-in -----------------------------------------------------------------
if [ ! -x "$BUILD/plugin/editclip-gimp" ]; then
  echo "== building the plug-in in $BUILD"
  cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DEDITCLIP_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BUILD" --target editclip_gimp -j"$(nproc)"
fi

W=$(mktemp -d /tmp/ec-shot.XXXXXX)
cleanup() { if [ "$KEEP" = 1 ]; then echo "kept $W"; else rm -rf "$W"; fi; }
trap cleanup EXIT

DESTDIR="$W/stage" cmake --install "$BUILD" --component gimp_plugin >/dev/null
PLUGIN=$(find "$W/stage" -type f -name editclip-gimp -perm -u+x | head -1)
[ -n "$PLUGIN" ] || { echo "screenshot_dialog.sh: the install staged no editclip-gimp" >&2; exit 1; }
PLUGIN_DIRS=$(dirname "$(dirname "$PLUGIN")")   # <plug-ins>/editclip-gimp/editclip-gimp

# The tiny fixture models stand in for the real weights, under names a user would pick, so the
# dialogs show a configured set-up (no "models missing" warning).
mkdir -p "$W/home/models"
ln -s "$REPO/tests/fixtures/models/editclip_a/clip" "$W/home/models/EditCLIP"
ln -s "$REPO/tests/fixtures/models/ip2p_a" "$W/home/models/EditCLIP-IP2P"

if [ -z "$IMAGES" ]; then
  IMAGES="$REPO/tests/fixtures/cases/09_pipeline_exemplar/images"
  SCALE=384   # 64 px fixtures: enlarged so the dialog shows a plausible layer size
else
  SCALE=0
fi
pick() {  # first file of IMAGES named $1.*
  local f
  f=$(find "$IMAGES" -maxdepth 1 -type f -name "$1.*" | sort | head -1)
  [ -n "$f" ] || { echo "screenshot_dialog.sh: no $1.* in $IMAGES" >&2; exit 1; }
  echo "$f"
}
BEFORE=$(pick input_image)
AFTER=$(pick edited_image)
QUERY=$(pick query_image)

printf '(plug-in-path "${gimp_dir}/plug-ins:${gimp_plug_in_dir}/plug-ins:%s")\n' "$PLUGIN_DIRS" \
  >"$W/gimprc"

# Builds the two open images every session starts from: an exemplar with its before/after
# layers, and the photo to edit, with an elliptic selection so the outside-selection choice is
# live. The body ($1) runs inside, with ex/before/after/q/query bound. One -b holds everything:
# each -b is a fresh interpreter.
script() {
  cat <<EOF
(let* ((scale $SCALE)
       (ex (car (gimp-file-load RUN-NONINTERACTIVE "$BEFORE" "exemplar")))
       (before (car (gimp-image-get-active-layer ex)))
       (after (car (gimp-file-load-layer RUN-NONINTERACTIVE ex "$AFTER")))
       (q (car (gimp-file-load RUN-NONINTERACTIVE "$QUERY" "photo")))
       (query (car (gimp-image-get-active-layer q))))
  (gimp-image-insert-layer ex after 0 0)
  (gimp-image-set-filename ex "exemplar.png")
  (gimp-image-set-filename q "photo.jpg")
  (gimp-item-set-name before "before")
  (gimp-item-set-name after "after")
  (gimp-item-set-name query "photo")
  (if (> scale 0)
      (begin (gimp-image-scale ex scale scale) (gimp-image-scale q scale scale)))
  (let ((w (car (gimp-image-width q))) (h (car (gimp-image-height q))))
    (gimp-image-select-ellipse q CHANNEL-OP-REPLACE (/ w 8) (/ h 8) (* w 0.75) (* h 0.75)))
  (gimp-display-new ex)
  (gimp-display-new q)
  (gimp-image-set-active-layer q query)
  (plug-in-editclip-settings RUN-NONINTERACTIVE "$W/home/models/EditCLIP"
                             "$W/home/models/EditCLIP-IP2P" "auto")
  $1)
EOF
}

# HOME and XDG dirs inside $W; each session gets a fresh profile (GIMP2_DIRECTORY must not exist
# yet).
export HOME="$W/home" XDG_CONFIG_HOME="$W/home/.config" XDG_CACHE_HOME="$W/home/.cache" \
  XDG_DATA_HOME="$W/home/.local/share" NO_AT_BRIDGE=1
unset EDITCLIP_SETTINGS EDITCLIP_CLIP_DIR EDITCLIP_EDITOR_DIR EDITCLIP_CLIP_BASELINE_DIR \
  EDITCLIP_LPIPS_DIR EDITCLIP_DEVICE EDITCLIP_PRECISION EDITCLIP_THREADS
export EDITCLIP_DIALOG_AUTO=cancel

mkdir -p "$OUT"
# session NAME BODY ID:FILE...: runs GIMP once, then copies each dialog's snapshot (ID.png) to
# $OUT/FILE.png.
session() {
  local name=$1 body=$2 rc status=0
  shift 2
  echo "== $name: running GIMP under Xvfb (log: $W/$name.log)"
  mkdir -p "$W/$name"
  set +e
  # (gimp-quit) in its own -b: a failing script must not leave the GUI running.
  GIMP2_DIRECTORY="$W/$name/profile" EDITCLIP_DIALOG_SNAPSHOT="$W/$name/%s.png" \
    dbus-run-session -- xvfb-run -a -s "-screen 0 1280x1024x24" \
    timeout --kill-after=10 240 gimp-2.10 --gimprc="$W/gimprc" -n -d -f -s \
    --batch-interpreter=plug-in-script-fu-eval -b "$(script "$body")" -b "(gimp-quit 1)" \
    >"$W/$name.log" 2>&1
  rc=$?
  set -e
  for pair in "$@"; do
    local shot="$W/$name/${pair%%:*}.png"
    if [ -s "$shot" ]; then
      cp "$shot" "$OUT/${pair#*:}.png"
      echo "wrote $OUT/${pair#*:}.png"
    else
      echo "screenshot_dialog.sh: the ${pair%%:*} dialog left no snapshot" >&2
      status=1
    fi
  done
  if [ "$status" != 0 ] || [ "$rc" != 0 ] || grep -q "execution error" "$W/$name.log"; then
    echo "--- GIMP exit status $rc; log tail:" >&2
    tail -30 "$W/$name.log" >&2
    exit 1
  fi
}

# 1. The apply dialog with exemplar layers, and the settings dialog.
session main '
  (plug-in-editclip-apply RUN-INTERACTIVE q query before after 20 7.0 1.5 0 256 0 0 "" 0)
  (plug-in-editclip-settings RUN-INTERACTIVE "" "" "")' \
  apply:apply-dialog settings:settings-dialog

# 2. The preset tab with real thumbnails: save two presets with the tiny models, run one edit
# from a preset (the dialog then opens on that tab, from the last values), open the dialog.
session presets '
  (plug-in-editclip-save-preset RUN-NONINTERACTIVE ex before before after "Pink blossoms" 256)
  (plug-in-editclip-save-preset RUN-NONINTERACTIVE ex before after before
                                "Pink blossoms, undone" 256)
  (plug-in-editclip-apply RUN-NONINTERACTIVE q query -1 -1 20 7.0 1.5 0 256 0 0
                          "Pink blossoms" 0)
  (plug-in-editclip-apply RUN-INTERACTIVE q query before after 20 7.0 1.5 0 256 0 0 "" 0)' \
  apply:apply-dialog-preset
