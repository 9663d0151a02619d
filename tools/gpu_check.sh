#!/usr/bin/env bash
# GPU check on a machine with a CUDA LibTorch (e.g. PyTorch's wheel) but none of the Debian -dev
# packages: builds against that LibTorch without OpenCV, runs the parity runner and unit tests
# (CPU, LibTorch 2.x numerics), `editclip bench` on CUDA in fp32 and fp16, then the training
# commands on CUDA (bf16 autocast) and a 2-process Gloo run, on the tiny fixture models.
# Extra headers/libraries the machine lacks (GLib) can be supplied under .devdeps/ (pkg-config).
set -uo pipefail
OUT="${OUT:-/tmp/gpu-check}"
mkdir -p "$OUT"
if [[ -d .devdeps ]]; then
  export PKG_CONFIG_PATH="$PWD/.devdeps/lib/pkgconfig:${PKG_CONFIG_PATH:-}"
  export LD_LIBRARY_PATH="$PWD/.devdeps/lib:${LD_LIBRARY_PATH:-}"
fi
TORCH_PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
GEN=(); command -v ninja >/dev/null && GEN=(-G Ninja)
{
  cmake -S . -B build-cuda "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
        -DEDITCLIP_WITH_OPENCV=OFF -DCMAKE_CUDA_ARCHITECTURES=90 && \
  cmake --build build-cuda -j"$(nproc)" -- -k 0
} > "$OUT/build.log" 2>&1
echo "build exit $?"; tail -25 "$OUT/build.log"
[[ -x build-cuda/tests/editclip_parity ]] || exit 1
build-cuda/tests/editclip_parity tests/fixtures 2>&1 | tee "$OUT/parity.txt"
build-cuda/tests/editclip_unit_tests --gtest_brief=1 > "$OUT/unit.txt" 2>&1; echo "unit exit $?"; tail -8 "$OUT/unit.txt"
export EDITCLIP_CONFIGS_DIR="$PWD/models/configs"
grep -i "editclip:" "$OUT/build.log" | head
timeout 200 build-cuda/editclip bench --device cuda --sizes 256,512 --steps 20 --work-dir /tmp/ecb \
    --out "$OUT/bench_cuda_fp32.json" 2>&1 | tail -30
timeout 120 build-cuda/editclip bench --device cuda --precision fp16 --sizes 256,512 --steps 20 \
    --work-dir /tmp/ecb --out "$OUT/bench_cuda_fp16.json" 2>&1 | tail -30

# Training on CUDA with the tiny fixture models (the 29 MB VGG LPIPS backbone may be left out of
# the upload: the editor uses the AlexNet one).
E=build-cuda/editclip
F=tests/fixtures/models
T=/tmp/ec-train
rm -rf "$T"; mkdir -p "$T"
{
  $E toy-data "$T/toy" --count 96 --size 64 --seed 1 &&
  timeout 120 $E train-encoder --init $F/editclip_a/clip --data "$T/toy" --out "$T/enc" --steps 40 \
      --batch 16 --lr 1e-4 --lr-patch 1e-3 --device cuda --amp --eval-every 20 --quiet &&
  tail -3 "$T/enc/metrics.jsonl" &&
  timeout 120 $E train-editor --editclip $F/editclip_a/clip --init $F/ip2p_a --data "$T/toy" \
      --out "$T/ed" --steps 10 --batch 4 --size 64 --lpips $F/lpips_a/alex_features.safetensors,$F/lpips_a/lin_alex_v0.1.safetensors \
      --lpips-net alex --sample-every 5 --sample-steps 4 --device cuda --amp --quiet &&
  tail -2 "$T/ed/metrics.jsonl" &&
  $E export "$T/ed" --to "$T/ed-out" && $E export "$T/enc" --to "$T/enc-out" &&
  Q=$(ls tests/fixtures/cases/*/images/*.png | head -1) &&
  $E apply --clip "$T/enc-out" --pipeline "$T/ed-out" --before "$Q" --after "$Q" --query "$Q" \
      --out "$T/applied.png" --steps 4 --size 64 --device cuda --quiet && echo "apply on exported: ok"
} > "$OUT/train_cuda.txt" 2>&1; echo "train cuda exit $?"; tail -15 "$OUT/train_cuda.txt"
# 2-process Gloo on the CPU against LibTorch 2.x.
{
  for r in 0 1; do
    RANK=$r WORLD_SIZE=2 LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=29533 timeout 120 \
      $E train-encoder --init $F/editclip_a/clip --data "$T/toy" --out "$T/ddp" --steps 4 --batch 8 \
      --device cpu --eval-every 0 --quiet --no-plot &
  done; wait
  tail -2 "$T/ddp/metrics.jsonl"
} > "$OUT/ddp_cpu.txt" 2>&1; echo "ddp exit $?"; tail -6 "$OUT/ddp_cpu.txt"
