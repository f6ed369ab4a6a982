#!/usr/bin/env bash
# The GPU checks in one go (CI has no GPU): the CUDA tests, then the benchmark against
# MMDetection in fp32 and bf16 autocast. Needs torch with CUDA, mmengine, mmcv and mmdet.
#   bash tests/gpu/run_checks.sh [OUT_DIR]      (default results/; logs and JSON land there)
# Run from the repository root; swin_mm is imported from this checkout (no install needed).
set -uo pipefail
export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
out=${1:-results}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
python3 -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda)' \
    | tee -a "$out/gpu.txt"
python3 -m pytest -q -p no:cacheprovider tests/models/test_cuda.py 2>&1 | tee "$out/gpu_tests.log"
tests=$?
python3 tools/benchmark.py --out "$out" 2>&1 | tee "$out/benchmark_cuda.log"
bench=$?
exit $(( tests || bench ))
