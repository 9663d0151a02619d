#!/usr/bin/env bash
# GPU check on a machine with a CUDA LibTorch (e.g. PyTorch's wheel) but none of the Debian -dev
# packages: builds against that LibTorch without OpenCV, runs the parity runner and unit tests
# (CPU, LibTorch 2.x numerics), then `editclip bench` on CUDA in fp32 and fp16.
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
export EDITCLIP_MODELS_DIR="$PWD/models/configs"
build-cuda/editclip bench --device cuda --sizes 256,512 --steps 20 --work-dir /tmp/ecb \
    --out "$OUT/bench_cuda_fp32.json" 2>&1 | tail -30
build-cuda/editclip bench --device cuda --precision fp16 --sizes 256,512 --steps 20 \
    --work-dir /tmp/ecb --out "$OUT/bench_cuda_fp16.json" 2>&1 | tail -30
