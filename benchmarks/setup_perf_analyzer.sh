#!/usr/bin/env bash
# Creates benchmarks/.venv-perf (git-ignored) holding NVIDIA's perf_analyzer, the Triton client's own C++
# load generator. It ships as bin/perf_analyzer inside the tritonclient==2.44.0 manylinux wheel (later
# wheels dropped it). On a CPU-only machine it needs two shared libraries it was linked against:
#   - libb64.so.0d: Debian's libb64-0d (installed with apt when missing and we are root);
#   - libcudart.so.12: the nvidia-cuda-runtime-cu12 wheel (it is loaded, no GPU is used).
# Prints the command line to run it; benchmarks/perf_analyzer.py finds it there.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=benchmarks/.venv-perf
PYTHON=${PYTHON:-python3.11}
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "tritonclient==2.44.0" "nvidia-cuda-runtime-cu12==12.4.127"
if ! ldconfig -p | grep -q libb64.so.0d; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libb64-0d >/dev/null
    else
        echo "libb64-0d is missing: apt-get install libb64-0d (as root)" >&2; exit 1
    fi
fi
PA="$VENV/bin/perf_analyzer"
CUDART=$(dirname "$(ls "$VENV"/lib/python3*/site-packages/nvidia/cuda_runtime/lib/libcudart.so.12)")
LD_LIBRARY_PATH="$CUDART" "$PA" --version 2>&1 | head -1 || true
echo "perf_analyzer: $PA (LD_LIBRARY_PATH=$CUDART)"
