#!/usr/bin/env bash
# The image_proj_model.pt that `editclip export` writes loads the way torch.load does
# (tests/training/torch_load_check.py, standard library only), with the values of the exported
# safetensors copy. Controls: the checker accepts the fixtures' real torch.save file and refuses a
# wrong reference, a truncated archive and a legacy (non-zip) file.
#   torch_load_test.sh EDITCLIP_BINARY FIXTURES_ROOT [PYTHON3]
set -euo pipefail
EDITCLIP=$1
FIXTURES=$2
PYTHON=${3:-python3}
HERE="$(cd "$(dirname "$0")" && pwd)"
CHECK=("$PYTHON" "$HERE/torch_load_check.py")
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
M="$FIXTURES/models"

expect_ok() { "${CHECK[@]}" "$@" || { echo "FAILED: expected OK for $*"; exit 1; }; }
expect_fail() {
  if out=$("${CHECK[@]}" "$@"); then echo "FAILED: expected a refusal for $*: $out"; exit 1; fi
  echo "refused as expected: $out"
}

expect_ok "$M/ip2p_a/image_proj_model.pt" "$M/ip2p_a/image_proj_model.safetensors"

"$EDITCLIP" toy-data "$W/toy" --count 8 --size 64 > /dev/null
"$EDITCLIP" train-editor --editclip "$M/editclip_a/clip" --init "$M/ip2p_a" \
  --data "$W/toy/manifest.jsonl" --out "$W/run" --size 64 --steps 1 --batch 2 --threads 1 \
  --lpips-weight 0 --quiet --no-plot --sample-every 0 > /dev/null
"$EDITCLIP" export "$W/run" --to "$W/export" > /dev/null
expect_ok "$W/export/image_proj_model.pt" "$W/export/image_proj_model.safetensors"

expect_fail "$W/export/image_proj_model.pt" "$M/ip2p_a/image_proj_model.safetensors"
head -c 3000 "$W/export/image_proj_model.pt" > "$W/cut.pt"
expect_fail "$W/cut.pt"
expect_fail "$M/lpips_a/lin_vgg_v0.1.pth"
echo "PASS"
