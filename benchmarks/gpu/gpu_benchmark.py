"""The zoo's classifiers and re-ID network on a GPU: ONNX Runtime with every execution provider the
machine has (TensorRT FP16, CUDA, CPU), images/s at batch 1, 8, 32 and 128, and how far each
provider's outputs are from the CPU provider's on real crops (largest logit difference, share of
crops with the same top-1 label). A provider the installed ``onnxruntime`` lacks is reported as
missing, with what to install; nothing here needs a GPU to *run* (``--providers CPUExecutionProvider``
is the CPU smoke test), and no test depends on it.

    python benchmarks/gpu/gpu_benchmark.py --crops .gpu-carry/crops --json $OUT/gpu_benchmark.json

``benchmarks/gpu/prepare.sh`` fills ``.gpu-carry/`` on the development machine (real crops, the
detector) and ``benchmarks/gpu/run.sh`` is the one command for the device machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from vehiclekit.models import zoo
from vehiclekit.models.metadata import ClassifierMetadata
from vehiclekit.models.preprocess import classifier_input

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from int8_throughput import images_per_s  # noqa: E402 (benchmarks/; one warm-up run also builds TensorRT's engine)

#: provider -> its options; TensorRT builds FP16 engines (cached next to the run, built once).
PROVIDERS = {
    "TensorrtExecutionProvider": {"trt_fp16_enable": True, "trt_engine_cache_enable": True,
                                  "trt_engine_cache_path": "/tmp/vehiclekit-trt-cache"},
    "CUDAExecutionProvider": {},
    "CPUExecutionProvider": {},
}
MODELS = ("vehicle-type", "vehicle-model", "vehicle-reid")
INSTALL_HINT = ("ONNX Runtime here has no {provider}: install onnxruntime-gpu matching the machine's CUDA "
                "(and tensorrt for TensorRT), e.g. carried as wheels, see /work/.library/device/README.md")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--crops", type=Path, required=True, help="folder of real vehicle crops (benchmarks/gpu/prepare.sh)")
    p.add_argument("--providers", nargs="+", default=list(PROVIDERS), choices=list(PROVIDERS))
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32, 128])
    p.add_argument("--seconds", type=float, default=2.0, help="timed seconds per (model, provider, batch)")
    p.add_argument("--json", type=Path, help="write the rows here")
    return p.parse_args(argv)


def agreement(outputs: np.ndarray, reference: np.ndarray) -> dict:
    """Largest absolute difference of the first output and the share of rows with the same argmax."""
    return {"max_abs_diff": float(np.abs(outputs - reference).max()),
            "top1_agreement": float((outputs.argmax(1) == reference.argmax(1)).mean())}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    available = ort.get_available_providers()
    crops = [cv2.imread(str(p)) for p in sorted(args.crops.glob("*.jpg"))]
    if not crops:
        raise SystemExit(f"no .jpg crops in {args.crops}: run benchmarks/gpu/prepare.sh on the development machine first")
    report: dict = {"onnxruntime": ort.__version__, "available_providers": available, "missing": {}, "rows": []}
    for provider in args.providers:
        if provider not in available:
            report["missing"][provider] = INSTALL_HINT.format(provider=provider)
            print(report["missing"][provider], flush=True)
    for key in MODELS:
        path = zoo.get(key).path
        cpu = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        meta = ClassifierMetadata.from_props(cpu.get_modelmeta().custom_metadata_map)
        data = classifier_input(crops, tuple(meta.input_size), tuple(meta.mean), tuple(meta.std))
        name = cpu.get_inputs()[0].name
        reference = cpu.run(None, {name: data})[0]
        for provider in [p for p in args.providers if p in available]:
            session = ort.InferenceSession(str(path), providers=[(provider, PROVIDERS[provider])])
            row = {"model": key, "provider": provider, "active": session.get_providers()[0],
                   **agreement(session.run(None, {name: data})[0], reference)}
            for b in args.batches:
                batch = np.resize(data, (b, *data.shape[1:])).astype(np.float32)   # the crops, repeated to fill b
                row[f"img_per_s_batch{b}"] = round(images_per_s(session, name, batch, args.seconds), 1)
            report["rows"].append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
