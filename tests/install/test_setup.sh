#!/usr/bin/env bash
# Tests install/setup.sh with a fake HOME and prefix. A stand-in `cmake` on PATH records how it
# was called and "installs" placeholder files where the real install would put them (nothing is
# built); GIMP is real (gimp-console-2.10), because the point is what GIMP does with a new profile.
#
#   test_setup.sh SOURCE_DIR
#
# Checks: a user install into a profile that does not exist yet lets GIMP set the profile up
# before the plug-in is copied; without GIMP the plug-in is not installed and the profile is not
# created; --uninstall removes what the install wrote and nothing else (downloaded weights in
# share/editclip/models, settings and presets stay) and succeeds, saying so, when nothing is
# installed. Fails when gimp-console-2.10 is missing (install/install-deps.sh installs it).
set -euo pipefail
SRC="$(cd "$1" && pwd)"
command -v gimp-console-2.10 > /dev/null ||
  { echo "FAIL: gimp-console-2.10 not installed (run install/install-deps.sh)"; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/editclip-setup-test.XXXXXX")
if [[ "${KEEP_SETUP_TEST_DIR:-0}" == 1 ]]; then echo "test folder: $W"; else trap 'rm -rf "$W"' EXIT; fi
failures=0
check() {  # description, command...
  local what="$1"; shift
  if "$@"; then echo "PASS $what"; else echo "FAIL $what"; failures=$((failures + 1)); fi
}
contains() { grep -qF -- "$2" "$1"; }

# ---- the stand-in cmake ----------------------------------------------------------------------------
mkdir -p "$W/bin"
cat > "$W/bin/cmake" << 'EOF'
#!/usr/bin/env bash
# -S SRC -B BUILD -D...: remembers the -D options; --build: nothing; --install BUILD --component C:
# writes placeholders for C and its install_manifest_C.txt.
set -euo pipefail
case "$1" in
  -S)
    build="$4"; mkdir -p "$build"
    printf '%s\n' "${@:5}" > "$build/stub-options.txt" ;;
  --build) ;;
  --install)
    build="$2"; component="$4"
    option() { sed -n "s/^-D$1=//p" "$build/stub-options.txt"; }
    prefix=$(option CMAKE_INSTALL_PREFIX)
    files=()
    if [[ "$component" == Unspecified ]]; then
      files=("$prefix/bin/editclip" "$prefix/lib/libeditclip.so.0.1.0")
      for c in "$STUB_SRC"/models/configs/*.json; do files+=("$prefix/share/editclip/configs/${c##*/}"); done
    elif [[ "$component" == gimp_plugin ]]; then
      plugins=$(option EDITCLIP_GIMP_PLUGIN_DIR)
      # What GIMP had set up in the profile when the plug-in arrived.
      if [[ -d "$plugins/../brushes" && -f "$plugins/../pluginrc" ]]; then echo yes; else echo no; fi \
        > "$build/stub-profile-ready.txt"
      files=("$plugins/editclip-gimp/editclip-gimp" "$plugins/editclip-gimp/libeditclip-gimp-engine.so"
             "$plugins/editclip-gimp/libeditclip.so.0")
    fi
    for f in "${files[@]}"; do mkdir -p "$(dirname "$f")"; echo placeholder > "$f"; chmod +x "$f"; done
    if [[ "$component" == Unspecified ]]; then
      ln -sf libeditclip.so.0.1.0 "$prefix/lib/libeditclip.so.0"; files+=("$prefix/lib/libeditclip.so.0")
    fi
    # CMake writes the manifest without a final newline.
    (IFS=$'\n'; printf '%s' "${files[*]}") > "$build/install_manifest_$component.txt" ;;
  *) echo "stub cmake: unexpected $*" >&2; exit 2 ;;
esac
EOF
chmod +x "$W/bin/cmake"

# A user's world: HOME, XDG folders and GIMP profile under $W/<name>.
run_setup() {  # name, log, setup options...
  local name="$1" log="$2"; shift 2
  local home="$W/$name/home"
  mkdir -p "$home"
  ( unset GIMP2_DIRECTORY DISPLAY
    export HOME="$home" XDG_CONFIG_HOME="$home/.config" XDG_CACHE_HOME="$home/.cache" \
           XDG_DATA_HOME="$home/.local/share" PATH="$W/bin:$PATH" STUB_SRC="$SRC" \
           EDITCLIP_BUILD_DIR="$W/$name/build" EDITCLIP_SKIP_DEPS=1
    bash "$SRC/install/setup.sh" "$@" ) > "$log" 2>&1
}

# ---- 1. user install, no GIMP profile yet ------------------------------------------------------------
U="$W/user/home"
PROFILE="$U/.config/GIMP/2.10"
PREFIX="$U/.local"
rc=0; run_setup user "$W/install.log" || rc=$?
check "install: succeeds" [ "$rc" = 0 ]
check "install: says GIMP sets up the profile" contains "$W/install.log" "letting GIMP set up your profile"
check "install: GIMP made the profile (brushes/, scripts/, gradients/)" \
  test -d "$PROFILE/brushes" -a -d "$PROFILE/scripts" -a -d "$PROFILE/gradients"
check "install: the profile was ready before the plug-in was copied" \
  grep -qx yes "$W/user/build/stub-profile-ready.txt"
check "install: plug-in in the profile" test -x "$PROFILE/plug-ins/editclip-gimp/editclip-gimp"
check "install: CLI in the prefix" test -f "$PREFIX/bin/editclip"
check "install: shipped configs in share/editclip/configs" \
  test -f "$PREFIX/share/editclip/configs/sd_vae.json"
check "install: manifest kept" test -s "$W/user/build/install_manifest-user.txt"
check "install: manifest lines are whole paths" \
  bash -c '! grep -v "^/\|^$" "$1"' _ "$W/user/build/install_manifest-user.txt"

# A second install into the now existing profile leaves GIMP alone.
rc=0; run_setup user "$W/reinstall.log" || rc=$?
check "reinstall: succeeds" [ "$rc" = 0 ]
check "reinstall: GIMP not run again" bash -c '! grep -q "letting GIMP" "$1"' _ "$W/reinstall.log"

# ---- 2. uninstall keeps user data ------------------------------------------------------------------
# Weights the user downloaded where the first-run text says, a config file an older install put
# beside them, the settings file and a saved preset.
WEIGHTS="$PREFIX/share/editclip/models/EditCLIP"
mkdir -p "$WEIGHTS" "$U/.config/editclip" "$PROFILE/editclip/presets"
echo weights > "$WEIGHTS/model.safetensors"
echo '{}' > "$WEIGHTS/config.json"
echo old > "$PREFIX/share/editclip/models/sd_vae.json"
echo '{}' > "$U/.config/editclip/settings.json"
echo preset > "$PROFILE/editclip/presets/winter.editclip"
rc=0; run_setup user "$W/uninstall.log" --uninstall || rc=$?
check "uninstall: succeeds" [ "$rc" = 0 ]
check "uninstall: lists what it removed" contains "$W/uninstall.log" "removed $PREFIX/bin/editclip"
check "uninstall: CLI gone" test ! -e "$PREFIX/bin/editclip" -a ! -e "$PREFIX/lib/libeditclip.so.0"
check "uninstall: shipped configs gone" test ! -e "$PREFIX/share/editclip/configs"
check "uninstall: a config an older install shipped into models/ is gone" \
  test ! -e "$PREFIX/share/editclip/models/sd_vae.json"
check "uninstall: plug-in folder gone" test ! -e "$PROFILE/plug-ins/editclip-gimp"
check "uninstall: downloaded weights kept" \
  test -f "$WEIGHTS/model.safetensors" -a -f "$WEIGHTS/config.json"
check "uninstall: says the weights are kept" contains "$W/uninstall.log" "model weights in"
check "uninstall: settings and presets kept" \
  test -f "$U/.config/editclip/settings.json" -a -f "$PROFILE/editclip/presets/winter.editclip"
check "uninstall: the GIMP profile itself kept" test -d "$PROFILE/brushes"

rc=0; run_setup user "$W/uninstall2.log" --uninstall || rc=$?
check "uninstall again: succeeds" [ "$rc" = 0 ]
check "uninstall again: says nothing was installed" contains "$W/uninstall2.log" "nothing to uninstall"
check "uninstall again: weights still there" test -f "$WEIGHTS/model.safetensors"

# ---- 3. no GIMP: the plug-in is not installed and the profile not created -------------------------
rc=0; EDITCLIP_GIMP_CONSOLE=no-such-gimp-console run_setup nogimp "$W/nogimp.log" || rc=$?
check "no GIMP: fails" [ "$rc" != 0 ]
check "no GIMP: says so" contains "$W/nogimp.log" "GIMP 2.10 is not installed"
check "no GIMP: profile not created" test ! -e "$W/nogimp/home/.config/GIMP"
check "no GIMP: CLI still installed" test -f "$W/nogimp/home/.local/bin/editclip"

# ---- 4. --system and an explicit plug-ins folder never start GIMP -------------------------------
rc=0; run_setup custom "$W/custom.log" "--gimp-plugin-dir=$W/custom/plug-ins" "--prefix=$W/custom/prefix" || rc=$?
check "explicit folder: succeeds" [ "$rc" = 0 ]
check "explicit folder: plug-in there" test -x "$W/custom/plug-ins/editclip-gimp/editclip-gimp"
check "explicit folder: no profile made" test ! -e "$W/custom/home/.config/GIMP"

if [[ $failures != 0 ]]; then
  for log in "$W"/*.log; do echo "---- ${log##*/}"; cat "$log"; done
  echo "$failures check(s) failed"
  exit 1
fi
echo "all setup.sh checks passed"
