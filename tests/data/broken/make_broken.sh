#!/usr/bin/env bash
# Regenerates the deliberately broken inputs used by the bad-input tests. Plain bash + coreutils;
# the outputs are committed, so nothing here runs at test time.
set -euo pipefail
cd "$(dirname "$0")"

# 8-byte little-endian unsigned integer.
u64le() {
  local v=$1 i
  for i in 0 1 2 3 4 5 6 7; do
    printf "\\x$(printf %02x $(((v >> (8 * i)) & 255)))"
  done
}

# Deterministic, non-zero filler bytes.
filler() { head -c "$1" < <(yes 'editclip' | tr -d '\n'); }

# safetensors <out> <header json> <data bytes> [declared header length]
safetensors() {
  local out=$1 header=$2 ndata=$3
  local len=${4:-${#header}}
  { u64le "$len"; printf '%s' "$header"; filler "$ndata"; } > "$out"
}

# A valid header for 1024 bytes of data, but only 100 of them are present.
safetensors truncated.safetensors \
  '{"weight":{"dtype":"F32","shape":[16,16],"data_offsets":[0,1024]}}' 100

# The header length claims far more bytes than the file has.
safetensors bad_header_len.safetensors \
  '{"weight":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}' 16 1000000

# The JSON text stops in the middle of an object.
safetensors bad_json.safetensors '{"weight":{"dtype":"F32","shape":[4],"data_offs' 16

# An element type that does not exist.
safetensors bad_dtype.safetensors '{"weight":{"dtype":"Q7","shape":[4],"data_offsets":[0,16]}}' 16

# Two tensors sharing bytes 32..63.
safetensors overlap.safetensors \
  '{"a":{"dtype":"F32","shape":[16],"data_offsets":[0,64]},"b":{"dtype":"F32","shape":[16],"data_offsets":[32,96]}}' 96

# A [4,4] F32 tensor needs 64 bytes; the offsets give it 60.
safetensors shape_mismatch.safetensors \
  '{"weight":{"dtype":"F32","shape":[4,4],"data_offsets":[0,60]}}' 64

printf 'This is a text file with a .png name, not an image.\n' > not_an_image.png
: > empty.safetensors

# The data section must be tiled exactly by the tensors, as HF's reader requires.
# Bytes 0..7 unused before the only tensor.
safetensors gap_start.safetensors \
  '{"weight":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}' 24
# 8 unused bytes between two tensors.
safetensors gap_between.safetensors \
  '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[24,40]}}' 40
# 8 bytes after the last tensor.
safetensors trailing.safetensors \
  '{"weight":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}' 24
# The same tensor name twice (a JSON parser would silently keep the later one).
safetensors duplicate.safetensors \
  '{"weight":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"weight":{"dtype":"F32","shape":[4],"data_offsets":[16,32]}}' 32
