"""The ``vehiclekit`` command: ``vehiclekit COMMAND --help``.

- ``predict IMAGE...``: detect the vehicles in images and classify their type (and make, model, body)
- ``serve``: serve the models with NVIDIA Triton (CPU, from pip)
- ``serving build-repo``: write a Triton model repository from the zoo
- ``parking enter|exit|record-exit|settle|calibrate|review|resolve|sessions|report|watch``: parking fees
- ``stats ingest|report``: entry/exit traffic statistics
- ``console``: the web review console
- ``count``: count the vehicles crossing lines in a video or stream

Each command is a module of :mod:`vehiclekit.commands`. Torch-free: the commands use the SDK, video, apps and
serving, never training.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from vehiclekit import __version__
from vehiclekit.commands.common import UsageError
from vehiclekit.errors import VehiclekitError

# command -> (module in vehiclekit.commands, one-line help). Each module has add_arguments() and run().
COMMANDS = {
    "predict": ("predict", "detect vehicles in images and classify their type"),
    "serve": ("serve", "serve the models with NVIDIA Triton (CPU, from pip)"),
    "serving": ("serving", "Triton model repository tools"),
    "parking": ("parking", "parking fees by vehicle type with entry/exit re-ID matching"),
    "stats": ("stats", "entry/exit traffic statistics per vehicle type"),
    "console": ("console", "web console: label the queue, settle parking reviews, see traffic"),
    "count": ("count", "count vehicles crossing lines in a video or stream, by type"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vehiclekit`` console script; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="vehiclekit",
        description="Vehicle detection and vehicle-type classification: embedded (ONNX Runtime, no torch) or served by NVIDIA Triton.",
    )
    parser.add_argument("--version", action="version", version=f"vehiclekit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    argv = sys.argv[1:] if argv is None else list(argv)
    # The program's own options take no value, so the first other word is the command: only its module is
    # imported (the others' imports, e.g. scipy for parking, would slow `--help` and every `predict`).
    chosen = next((word for word in argv if not word.startswith("-")), None)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            mod = importlib.import_module(f"vehiclekit.commands.{module}")
            mod.add_arguments(p)
            p.set_defaults(func=mod.run)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as e:
        print(f"vehiclekit {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (VehiclekitError, ValueError, OSError) as e:
        # A bad argument or input (a missing file, a tariff that does not parse...): one line, no traceback.
        print(f"vehiclekit: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vehiclekit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
