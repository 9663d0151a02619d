#!/usr/bin/env bash
# Headless GIMP 2.10 tests of the installed plug-in (see ../../README.md, "GIMP plug-in").
#
#   run_gimp_tests.sh BUILD_DIR SOURCE_DIR CHECKER
#
# Installs the plug-in component of BUILD_DIR into a temporary folder and runs GIMP with a
# throw-away profile: gimp-console for session "settings" (no model environment; models set
# through plug-in-editclip-settings) and "plugin" (tiny fixture models from EDITCLIP_CLIP_DIR /
# EDITCLIP_EDITOR_DIR), then GUI GIMP under Xvfb for "interactive" and "cancel" (dialogs answer
# themselves). Checks the Script-Fu results, the messages in GIMP's output and the exported PNGs
# with CHECKER.
# Fails when gimp-console-2.10 is missing: the plug-in was built, so GIMP must be there to test it
# (install/install-deps.sh installs it). Fails too when gimp-2.10, xvfb-run or dbus-run-session
# (packages gimp, xvfb, xauth, dbus) are missing for the GUI sessions, unless
# EDITCLIP_GIMP_GUI_TESTS=0 says to skip them. KEEP_GIMP_TEST_DIR=1 keeps the files.
set -euo pipefail
BUILD="$1"
SRC="$(cd "$2" && pwd)"
CHECKER="$3"
GIMP=$(command -v gimp-console-2.10 || true)
[[ -n "$GIMP" ]] || { echo "FAIL: gimp-console-2.10 not installed (run install/install-deps.sh)"; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/editclip-gimp-test.XXXXXX")
if [[ "${KEEP_GIMP_TEST_DIR:-0}" == 1 ]]; then echo "test folder: $W"; else trap 'rm -rf "$W"' EXIT; fi
mkdir -p "$W/out" "$W/home"

DESTDIR="$W/dest" cmake --install "$BUILD" --component gimp_plugin > "$W/install.log"
BIN=$(find "$W/dest" -path '*/editclip-gimp/editclip-gimp' -type f | head -1)
[[ -x "$BIN" ]] || { echo "FAIL: plug-in not installed (see $W/install.log)"; cat "$W/install.log"; exit 1; }
PLUGINS=$(dirname "$(dirname "$BIN")")
# Keep the system plug-ins (script-fu, file-png) in the path.
printf '(plug-in-path "${gimp_dir}/plug-ins:${gimp_plug_in_dir}/plug-ins:%s")\n' "$PLUGINS" > "$W/gimprc"

export GIMP2_DIRECTORY="$W/profile"  # must not exist yet
export HOME="$W/home" XDG_CONFIG_HOME="$W/home/.config" XDG_CACHE_HOME="$W/home/.cache"
export XDG_DATA_HOME="$W/home/.local/share"
export EDITCLIP_SETTINGS="$W/settings.json"
unset EDITCLIP_CLIP_DIR EDITCLIP_EDITOR_DIR EDITCLIP_CLIP_BASELINE_DIR EDITCLIP_LPIPS_DIR \
      EDITCLIP_DEVICE EDITCLIP_PRECISION EDITCLIP_THREADS DISPLAY || true
FIXTURES="$SRC/tests/fixtures/models"

run_session() {  # name, script file stem, gui|console, extra env...
  local session="$1" stem="$2" mode="$3"; shift 3
  local script="(begin (define outdir \"$W/out\") (define session \"$session\")
    (define fixtures \"$FIXTURES\") (load \"$SRC/tests/gimp/lib.scm\")
    (load \"$SRC/tests/gimp/${stem}_tests.scm\"))"
  local start=$SECONDS
  if [[ $mode == gui ]]; then
    # GUI GIMP on a virtual display; (gimp-quit 1) in its own -b so a failing script still ends.
    env "$@" NO_AT_BRIDGE=1 timeout --kill-after=10 300 dbus-run-session -- \
      xvfb-run -a -s "-screen 0 1280x900x24" gimp-2.10 --gimprc="$W/gimprc" -n -d -f -s \
      --batch-interpreter=plug-in-script-fu-eval -b "$script" -b '(gimp-quit 1)' \
      > "$W/$session.log" 2>&1 || true
  else
    env "$@" timeout --kill-after=10 300 "$GIMP" --gimprc="$W/gimprc" -i -d -f -n \
        -b "$script" -b '(gimp-quit 0)' > "$W/$session.log" 2>&1 || true
  fi
  echo "session $session: $((SECONDS - start)) s"
  local results="$W/out/results-$session.txt"
  local failed=0
  if grep -q "batch command experienced an execution error" "$W/$session.log"; then
    echo "FAIL: Script-Fu error in session $session"; failed=1
  fi
  if grep -q "Plug-in crashed" "$W/$session.log"; then
    echo "FAIL: the plug-in crashed in session $session"; failed=1
  fi
  if [[ ! -f "$results" ]] || ! grep -q '^DONE' "$results"; then
    echo "FAIL: session $session did not finish"; failed=1
  fi
  [[ -f "$results" ]] && cat "$results"
  if [[ -f "$results" ]] && grep -q '^FAIL' "$results"; then failed=1; fi
  for pattern in "${EXPECT_LOG[@]}"; do
    if grep -qF -- "$pattern" "$W/$session.log"; then
      echo "PASS log of $session has: $pattern"
    else
      echo "FAIL log of $session lacks: $pattern"; failed=1
    fi
  done
  if [[ $failed == 1 ]]; then
    echo "---- GIMP output ($session) ----"; tail -n 60 "$W/$session.log"
    return 1
  fi
}

MODELS=(EDITCLIP_CLIP_DIR="$FIXTURES/editclip_a/clip" EDITCLIP_EDITOR_DIR="$FIXTURES/ip2p_a")
status=0
EXPECT_LOG=()  # fixed strings the next session's GIMP output must contain
run_session settings settings console || status=1
grep -q "plug-in-editclip-apply-all" "$GIMP2_DIRECTORY/pluginrc" ||
  { echo "FAIL: procedures not registered in pluginrc"; status=1; }
run_session plugin plugin console "${MODELS[@]}" || status=1
missing_gui=()
for tool in gimp-2.10 xvfb-run xauth dbus-run-session; do
  command -v "$tool" > /dev/null || missing_gui+=("$tool")
done
if [[ "${EDITCLIP_GIMP_GUI_TESTS:-1}" == 0 ]]; then
  echo "note: EDITCLIP_GIMP_GUI_TESTS=0: the interactive sessions are skipped"
elif [[ ${#missing_gui[@]} -gt 0 ]]; then
  echo "FAIL: ${missing_gui[*]} missing for the interactive sessions: install gimp, xvfb, xauth" \
       "and dbus (install/install-deps.sh), or set EDITCLIP_GIMP_GUI_TESTS=0 to skip them"
  status=1
else
  # The note of a run with exemplars of different sizes reaches the user as a message.
  EXPECT_LOG=("the edit was applied, with notes" "differ in size")
  run_session interactive interactive gui "${MODELS[@]}" EDITCLIP_DIALOG_AUTO=apply=ok || status=1
  # Cancel half-way: a single apply adds nothing; Apply to All keeps the finished image and says so.
  EXPECT_LOG=("Apply to All was cancelled" "each keeps its new layer"
              "was being edited and is unchanged" "Not started: ")
  run_session cancel interactive gui "${MODELS[@]}" EDITCLIP_DIALOG_AUTO=apply=ok,apply-all=ok \
    EDITCLIP_PROGRESS_CANCEL_AT=0.5 || status=1
  EXPECT_LOG=()
fi
"$CHECKER" "$W/out" || status=1
exit $status
