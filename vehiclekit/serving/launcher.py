"""Start and stop the real ``tritonserver`` that ``nvidia-pytriton`` installs (``pip install
'vehiclekit[serve]'``), on a model repository.

>>> with TritonServer("model-repository") as server:      # doctest: +SKIP
...     print(server.http_url, server.grpc_url)            # ready to serve here
http://127.0.0.1:8000 grpc://127.0.0.1:8001

How the pip server is made to run, and its python-backend stubs: :mod:`~vehiclekit.serving.pip_server`.

The server runs in its own process group (:mod:`~vehiclekit.serving.process_group`), stopped with
SIGTERM (then SIGKILL after ``exit_timeout``) as a group, so no python-backend stub outlives it; on
Linux it also receives SIGTERM if the process that started it dies.
"""

from __future__ import annotations

import collections
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from vehiclekit.errors import ServerError, VehiclekitError
from vehiclekit.sdk.triton_transport import API_KEY_HEADER
from vehiclekit.serving.pip_server import assemble_backends, python_stubs, server_environment, tritonserver_binary
from vehiclekit.serving.process_group import copy_output, start_group, stop_group

#: Seconds to wait for ``/v2/health/ready`` before giving up.
STARTUP_TIMEOUT = 120.0
#: Triton APIs that need the API key when one is set: all but health (probes and the launcher's
#: readiness wait stay open; they reveal nothing but "up").
RESTRICTED_APIS = "metadata,inference,shared-memory,model-config,model-repository,statistics,trace,logging"
#: Seconds Triton may take to finish in-flight requests after SIGTERM before it is killed.
EXIT_TIMEOUT = 10
#: Log lines kept to explain a failed start.
LOG_TAIL = 40


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct TCP ports free on ``host`` right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class TritonServer:
    """The pip ``tritonserver`` on ``repo``, as a context manager (or :meth:`start` / :meth:`stop`).

    Listens on ``host`` (loopback by default) at ``http_port``, ``grpc_port`` and
    ``metrics_port``; model control mode ``none`` (the repository's models load at start, nothing
    can be loaded or unloaded remotely). Server logs go line by line to ``log`` (default: this
    process's stderr). :meth:`start` returns once ``/v2/health/ready`` answers 200, or raises
    :class:`~vehiclekit.errors.ServerError` with the log's last lines.
    """

    def __init__(
        self,
        repo: str | os.PathLike,
        http_port: int = 8000,
        grpc_port: int = 8001,
        metrics_port: int = 8002,
        host: str = "127.0.0.1",
        log: IO[str] | None = None,
        startup_timeout: float = STARTUP_TIMEOUT,
        exit_timeout: int = EXIT_TIMEOUT,
        api_key: str | None = None,
        grpc_tls: tuple[str | os.PathLike, str | os.PathLike] | None = None,
    ):
        self.repo = Path(repo).resolve()
        self.api_key, self.grpc_tls = api_key, grpc_tls
        self.host, self.http_port, self.grpc_port, self.metrics_port = host, http_port, grpc_port, metrics_port
        self.log = log
        self.startup_timeout = startup_timeout
        self.exit_timeout = exit_timeout
        self.process: subprocess.Popen | None = None
        self._log_tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL)
        self._log_thread: threading.Thread | None = None
        self._backends: Path | None = None
        self._stubs: dict[str, int] = {}

    @property
    def http_url(self) -> str:
        return f"http://{self._client_host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{'grpcs' if self.grpc_tls else 'grpc'}://{self._client_host}:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self._client_host}:{self.metrics_port}/metrics"

    @property
    def _client_host(self) -> str:
        return "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host  # noqa: S104 - a comparison, not a bind

    def command(self, backend_dir: Path) -> list[str]:
        """The tritonserver command line."""
        return [
            str(tritonserver_binary()),
            f"--model-repository={self.repo}",
            f"--backend-directory={backend_dir}",
            "--model-control-mode=none",
            "--disable-auto-complete-config",  # the builder writes complete configs
            "--strict-readiness=true",
            f"--http-address={self.host}", f"--http-port={self.http_port}",
            f"--grpc-address={self.host}", f"--grpc-port={self.grpc_port}",
            f"--metrics-address={self.host}", f"--metrics-port={self.metrics_port}",
            "--allow-gpu-metrics=false",
            f"--exit-timeout-secs={self.exit_timeout}",
            *self._security_flags(),
        ]

    def _security_flags(self) -> list[str]:
        """Triton's own API restriction (every API but health needs the key header) and gRPC TLS."""
        flags = []
        if self.api_key:
            restricted = f"{RESTRICTED_APIS}:{API_KEY_HEADER}={self.api_key}"
            flags += [f"--http-restricted-api={restricted}", f"--grpc-restricted-protocol={restricted}"]
        if self.grpc_tls:
            cert, key = self.grpc_tls
            flags += ["--grpc-use-ssl=true", f"--grpc-server-cert={Path(cert).resolve()}",
                      f"--grpc-server-key={Path(key).resolve()}"]
        return flags

    def start(self) -> "TritonServer":
        """Start the server and wait until it is ready."""
        if self.process is not None and self.process.poll() is None:
            raise VehiclekitError("this TritonServer is already started")
        if not self.repo.is_dir():
            raise VehiclekitError(f"model repository {self.repo} does not exist: build it with `vehiclekit serving build-repo`")
        self._backends = assemble_backends(Path(tempfile.mkdtemp(prefix="vehiclekit-triton-backends-")))
        # cwd: the stub puts its working directory first on sys.path: keep it free of packages
        self.process = start_group(self.command(self._backends), server_environment(), cwd=self.repo)
        self._log_thread = copy_output(self.process, self.log, self._log_tail)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self._stubs = self.python_stubs()
        return self

    def restart(self) -> "TritonServer":
        """Stop the server and start it again on the same ports and repository."""
        self.stop()
        return self.start()

    def python_stubs(self) -> dict[str, int]:
        """The server's live python-backend stubs: model instance (e.g. ``vehicle_type_0_0``) -> pid
        (:func:`~vehiclekit.serving.pip_server.python_stubs`)."""
        return {} if self.process is None else python_stubs(self.process.pid)

    def dead_stubs(self) -> list[str]:
        """Model instances whose python-backend stub died since the server started. Triton keeps
        reporting those models ready while it fails each of their requests ("Stub process ... is not
        healthy"), so a caller has to act: ``vehiclekit serve`` restarts the server."""
        alive = self.python_stubs()
        return sorted(name for name, pid in self._stubs.items() if alive.get(name) != pid)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"tritonserver exited with status {self.process.returncode} while starting:\n{self.log_tail()}")
            if self.is_ready() and _answers(self.metrics_url):  # metrics start just after the ready endpoint
                return
            time.sleep(0.1)
        raise ServerError(f"tritonserver was not ready after {self.startup_timeout:.0f} s:\n{self.log_tail()}")

    def is_ready(self) -> bool:
        """True when ``/v2/health/ready`` answers 200 (every model loaded)."""
        return _answers(f"{self.http_url}/v2/health/ready")

    def poll(self) -> int | None:
        """The server's exit status, None while it runs."""
        return None if self.process is None else self.process.poll()

    def log_tail(self) -> str:
        """The server's last log lines."""
        return "".join(self._log_tail)

    def stop(self) -> int | None:
        """Stop the server and every process of its group; return its exit status (None if it was
        never started). Safe to call twice."""
        if self.process is None:
            return None
        stop_group(self.process, self.exit_timeout + 5)
        if self._log_thread is not None:
            self._log_thread.join(timeout=5)
        if self._backends is not None:
            shutil.rmtree(self._backends, ignore_errors=True)
            self._backends = None
        return self.process.returncode

    def __enter__(self) -> "TritonServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "not started" if self.process is None else f"pid {self.process.pid}, status {self.poll()}"
        return f"TritonServer({str(self.repo)!r}, http={self.http_url}, grpc={self.grpc_url}, {state})"


def _answers(url: str) -> bool:
    """True when a GET of ``url`` answers 200 within a second."""
    try:
        with urllib.request.urlopen(url, timeout=1) as reply:  # noqa: S310 - our own http:// health URL
            return reply.status == 200
    except (urllib.error.URLError, OSError):
        return False
