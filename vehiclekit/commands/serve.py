"""``vehiclekit serve``: serve the models with NVIDIA Triton Inference Server (CPU, from pip) until stopped."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from vehiclekit.commands.common import model_argument, precision_argument
from vehiclekit.errors import VehiclekitError
from vehiclekit.serving.launcher import TritonServer
from vehiclekit.serving.repository import build_repository, repository_flavor

SERVE_EPILOG = """\
Without --repo, a cpu-flavor repository is built from the model zoo into a temporary folder that is
removed on exit. With --repo DIR, DIR is built first if it is missing or empty, and served as it is
otherwise (a gpu-flavor repository needs NVIDIA's tritonserver image, see deploy/).
Listens on loopback by default (--host 0.0.0.0 to accept other machines); models cannot be loaded
or unloaded remotely (model control mode "none"). Ctrl-C or SIGTERM stops the server and its
python-backend processes.

Facing a network: --api-key-file makes every API but health require the key (header
vehiclekit-api-key; clients: TritonClient(url, api_key=...) or VEHICLEKIT_API_KEY), and
--grpc-tls-cert/--grpc-tls-key serve gRPC over TLS (clients: grpcs://host:8001, VEHICLEKIT_TLS_CA for
a private CA). Triton's HTTP endpoint has no TLS of its own: put it behind a TLS proxy, or expose
gRPC only. The key is on tritonserver's command line, visible to local users (ps): give the server
its own machine or user. The metrics port is not restricted: keep it on loopback or a private network.

examples:
  vehiclekit serve
  vehiclekit serve --model my-car-park-types=runs/own/model.onnx     (your classifier beside the zoo's)
  vehiclekit serve --repo model-repository --http-port 9000 --grpc-port 9001 --metrics-port 9002
  vehiclekit serve --host 0.0.0.0 --api-key-file /etc/vehiclekit/key --grpc-tls-cert cert.pem --grpc-tls-key key.pem
"""


#: How often `vehiclekit serve` checks the server and its stubs; how many stub deaths it restarts
#: the server for within the window before it gives up and exits.
WATCH_INTERVAL_S = 0.5
STUB_RESTARTS, STUB_RESTART_WINDOW_S = 3, 600.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``vehiclekit serve``."""
    parser.description = "Serve the vehiclekit models with NVIDIA Triton Inference Server (CPU, from pip)."
    parser.epilog = SERVE_EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--repo", type=Path, help="model repository folder (default: a temporary cpu-flavor one)")
    parser.add_argument("--http-port", type=int, default=8000, help="HTTP/REST port (default 8000)")
    parser.add_argument("--grpc-port", type=int, default=8001, help="gRPC port (default 8001)")
    parser.add_argument("--metrics-port", type=int, default=8002, help="Prometheus metrics port (default 8002)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--api-key-file", type=Path,
                        help="require this file's key (one line) on every request but health; clients pass "
                             "api_key= or set VEHICLEKIT_API_KEY (default: $VEHICLEKIT_API_KEY_FILE)")
    parser.add_argument("--grpc-tls-cert", type=Path, help="serve gRPC over TLS with this PEM certificate (with --grpc-tls-key)")
    parser.add_argument("--grpc-tls-key", type=Path, help="the certificate's PEM private key")
    precision_argument(parser)
    model_argument(parser)


def _security_options(args: argparse.Namespace) -> dict:
    """TritonServer's ``api_key`` / ``grpc_tls`` from the serve options."""
    key_file = args.api_key_file or (Path(os.environ["VEHICLEKIT_API_KEY_FILE"]) if os.environ.get("VEHICLEKIT_API_KEY_FILE") else None)
    api_key = None
    if key_file is not None:
        if not key_file.is_file():
            raise VehiclekitError(f"--api-key-file {key_file} does not exist")
        api_key = key_file.read_text().strip()
        if len(api_key) < 16 or any(c in api_key for c in " ,:="):
            raise VehiclekitError(f"the key in {key_file} must be at least 16 characters without spaces, ',', ':' or "
                                  "'=' (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
    if (args.grpc_tls_cert is None) != (args.grpc_tls_key is None):
        raise VehiclekitError("--grpc-tls-cert and --grpc-tls-key go together")
    tls = (args.grpc_tls_cert, args.grpc_tls_key) if args.grpc_tls_cert else None
    return {"api_key": api_key, "grpc_tls": tls}


def run(args: argparse.Namespace) -> int:
    """Build the repository if needed, serve until SIGINT/SIGTERM; 0 on a clean stop, 1 when the
    server failed. A python-backend stub that dies (killed, out of memory) gets the server restarted,
    at most :data:`STUB_RESTARTS` times in :data:`STUB_RESTART_WINDOW_S`; more, and it exits with 1."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with tempfile.TemporaryDirectory(prefix="vehiclekit-repository-") as scratch:
        try:
            repo = _repository(args.repo, Path(scratch) / "repository", dict(args.model), args.precision)
            with TritonServer(repo, args.http_port, args.grpc_port, args.metrics_port, args.host,
                              **_security_options(args)) as server:
                print(
                    f"vehiclekit: Triton ready on {server.http_url} (HTTP), {server.grpc_url} (gRPC), "
                    f"metrics {server.metrics_url}; serving {repo}. Ctrl-C stops it.",
                    file=sys.stderr, flush=True,
                )
                if not watch(server, stop):
                    return 1
                print("vehiclekit: stopping Triton", file=sys.stderr, flush=True)
        except VehiclekitError as e:
            print(f"vehiclekit serve: {e}", file=sys.stderr)
            return 1
    return 0


def watch(server: TritonServer, stop: threading.Event) -> bool:
    """Keep ``server`` serving until ``stop`` is set (True); False when it exited or its python stubs
    died more than :data:`STUB_RESTARTS` times within :data:`STUB_RESTART_WINDOW_S`."""
    restarts: list[float] = []
    while not stop.wait(WATCH_INTERVAL_S):
        if server.poll() is not None:
            print(f"vehiclekit: tritonserver exited with status {server.poll()}", file=sys.stderr)
            return False
        if dead := server.dead_stubs():
            restarts = [t for t in restarts if time.monotonic() - t < STUB_RESTART_WINDOW_S] + [time.monotonic()]
            if len(restarts) > STUB_RESTARTS:
                print(f"vehiclekit: python-backend stubs died {len(restarts)} times in {STUB_RESTART_WINDOW_S / 60:.0f} "
                      f"minutes (now {', '.join(dead)}): giving up; see the server log above and check memory "
                      "(dmesg shows the OOM killer)", file=sys.stderr)
                return False
            print(f"vehiclekit: python-backend stub of {', '.join(dead)} died; Triton would fail every request to it "
                  "while reporting it ready: restarting the server", file=sys.stderr, flush=True)
            server.restart()
            print(f"vehiclekit: Triton ready again on {server.http_url} and {server.grpc_url}", file=sys.stderr, flush=True)
    return True


def _repository(requested: Path | None, scratch: Path, models: dict[str, Path], precision: str) -> Path:
    """The folder to serve: ``requested`` (built first when missing or empty), else ``scratch`` built;
    ``models``: the user's classifiers, served beside the zoo's; ``precision``: the zoo variants."""
    if requested is None or not requested.is_dir() or not any(requested.iterdir()):
        return build_repository(requested or scratch, "cpu", models=models, precision=precision)
    if models or precision != "fp32":
        raise VehiclekitError(f"--model and --precision choose what a repository being built holds, but {requested} "
                              f"exists: pass them to `vehiclekit serving build-repo` or serve without --repo")
    if repository_flavor(requested) == "gpu":
        raise VehiclekitError(
            f"{requested} is a gpu-flavor repository (onnxruntime backend), which the pip tritonserver cannot run: "
            "serve it with NVIDIA's tritonserver image (deploy/), or build a cpu one with "
            "`vehiclekit serving build-repo DIR --flavor cpu`"
        )
    return requested
