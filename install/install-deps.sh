#!/usr/bin/env bash
# Installs the build and test dependencies on Debian 12 (bookworm). Idempotent: does nothing when
# everything is already there. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config ccache
  libtorch-dev libopenblas0-pthread   # LibTorch 1.13 (CPU); OpenBLAS, or matmuls run ~20x slower
  libopencv-dev                       # image I/O
  libglib2.0-dev                      # Unicode tables for the tokenizer
  nlohmann-json3-dev libgtest-dev
  libgloo-dev                         # c10d's Gloo backend: data-parallel training on CPU
  python3-minimal                     # tests only: a stdlib check that exported .pt files load
)
# The GIMP 2.10 plug-in and its headless tests (gimp-console); GUI GIMP under Xvfb with a D-Bus
# session (xvfb-run, xauth, dbus-run-session) for the dialog tests and screenshots.
# EDITCLIP_WITH_GIMP=0 skips them on a machine that only needs the engine and CLI (then configure
# with -DEDITCLIP_WITH_GIMP=OFF, as install/run-tests.sh and install/setup.sh --no-gimp do).
if [[ "${EDITCLIP_WITH_GIMP:-1}" == 1 ]]; then
  PACKAGES+=(gimp libgimp2.0-dev xvfb xauth dbus gtk2-engines-pixbuf)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all dependencies present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
