"""The SDK and the ``vehiclekit`` CLI never import torch: embedded installs do not have it.

Each check runs in a fresh interpreter, since this test process may have imported torch already.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

HEAVY = ("torch", "torchvision")


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)


def test_importing_the_sdk_and_cli_loads_no_torch():
    result = run_python(
        f"""
        import sys
        import importlib, vehiclekit, vehiclekit.sdk, vehiclekit.cli, vehiclekit.video.counter, vehiclekit.video.proposals
        for module, _ in vehiclekit.cli.COMMANDS.values():      # every command, as the CLI imports only the one run
            importlib.import_module(f"vehiclekit.commands.{{module}}")
        from vehiclekit import VehicleClassifier, VehicleDetector, VehicleRecognizer, VehicleReID, Gallery
        from vehiclekit import Prediction, Detection, RecognizedVehicle
        loaded = [name for name in {HEAVY!r} if name in sys.modules]
        assert not loaded, f"imported {{loaded}}"
        """
    )
    assert result.returncode == 0, result.stderr


def test_predict_runs_with_torch_unimportable(coco_dir):
    """With torch made unimportable, the SDK and ``vehiclekit predict`` still work end to end."""
    image = coco_dir / "images" / "000000252639.jpg"
    result = run_python(
        f"""
        import sys
        class NoTorch:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {HEAVY!r}:
                    raise ImportError(f"{{name}} is blocked in this test")
        sys.meta_path.insert(0, NoTorch())
        from vehiclekit import VehicleDetector
        assert any(d.label == "bus" for d in VehicleDetector().detect({str(image)!r}))
        from vehiclekit.cli import main
        assert main(["predict", {str(image)!r}]) == 0
        """
    )
    assert result.returncode == 0, result.stderr
    assert "detected=bus" in result.stdout
