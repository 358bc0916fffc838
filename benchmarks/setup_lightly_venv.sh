#!/usr/bin/env bash
# Creates benchmarks/.venv-lightly (git-ignored) for benchmarks/ssl_step_throughput.py only: lightly 1.6
# next to the project's pinned torch 2.14.1 / torchvision 0.29.1 (requirements.lock as constraints), so
# both SimSiam implementations run on the same torch build. lightly never enters the project's .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=benchmarks/.venv-lightly
PYTHON=${PYTHON:-python3.11}
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -c requirements.lock \
    "lightly==1.6.0" "torch==2.14.1" "torchvision==0.29.1"
"$VENV/bin/python" -c "import lightly, torch; print(f'lightly {lightly.__version__}, torch {torch.__version__}')"
