#!/usr/bin/env bash
# On the development machine, before a device run: real crops (every 10th vehicle-types test crop)
# into .gpu-carry/crops, which git ignores and the device tool carries (`carry: [".gpu-carry"]`).
# Copies of ../shared files stay out of git: .gpu-carry/ is in .git/info/exclude.
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qsx '/.gpu-carry/' .git/info/exclude || echo '/.gpu-carry/' >> .git/info/exclude
mkdir -p .gpu-carry/crops
.venv/bin/python - <<'PY'
import shutil
from pathlib import Path
from vehiclekit.paths import data_root
from vehiclekit.training.core.datasets import load_vehicle_types
for i, path in enumerate(load_vehicle_types(data_root(), "test").paths[::10]):
    shutil.copyfile(path, Path(".gpu-carry/crops") / f"{i:03d}.jpg")
PY
du -sh .gpu-carry
