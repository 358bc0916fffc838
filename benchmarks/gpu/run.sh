#!/usr/bin/env bash
# The one command for a lent GPU machine (device tool, carry [".gpu-carry"]), after prepare.sh here:
#   bash benchmarks/gpu/run.sh
# Prints the GPU and the runtimes, then benchmarks/gpu/gpu_benchmark.py into $OUT/gpu_benchmark.json.
set -uo pipefail
cd "$(dirname "$0")/../.."
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || echo "no nvidia-smi"
python3 -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())"
PYTHONPATH=. PYTHONUNBUFFERED=1 python3 benchmarks/gpu/gpu_benchmark.py --crops .gpu-carry/crops \
    --json "${OUT:-/tmp}/gpu_benchmark.json"
