"""Start and stop the real ``tritonserver`` that ``nvidia-pytriton`` installs (``pip install
'vehiclekit[serve]'``), on a model repository.

>>> with TritonServer("model-repository") as server:      # doctest: +SKIP
...     print(server.http_url, server.grpc_url)            # ready to serve here
http://127.0.0.1:8000 grpc://127.0.0.1:8001

How the pip server is made to run (nvidia-pytriton 0.7.0, Triton 2.51, python backend only):

* the binary is ``site-packages/pytriton/tritonserver/bin/tritonserver``, its libraries are in
  ``site-packages/nvidia_pytriton.libs``;
* ``--backend-directory`` is a folder assembled here: ``python/`` holding the backend library
  (``libtriton_python.so``), ``triton_python_backend_utils.py`` and the stub built for this Python
  (``pytriton/tritonserver/python_backend_stubs/3.11/``);
* ``LD_LIBRARY_PATH`` starts with this Python's own lib dir (the stub links ``libpython3.11``; a
  pyenv Python must come before the system one), then ``nvidia_pytriton.libs``;
* the stub embeds Python in isolated mode (``PYTHONPATH`` is ignored) and finds its prefix by
  looking up ``python3`` on ``PATH``: the folder of this interpreter goes first on ``PATH``, so in a
  virtual environment the stub sees the environment's site-packages, vehiclekit included;
* ``OPENCV_IO_MAX_IMAGE_PIXELS`` caps what OpenCV will decode at the SDK's
  :data:`~vehiclekit.sdk.image.MAX_PIXELS`, so a small file claiming a huge image is refused
  before any memory is allocated.

The server runs in its own process group, stopped with SIGTERM (then SIGKILL after
``exit_timeout``) as a group, so no python-backend stub outlives it; on Linux it also receives
SIGTERM if the process that started it dies.
"""

from __future__ import annotations

import collections
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from vehiclekit.errors import ServerError, VehiclekitError
from vehiclekit.sdk.image import MAX_PIXELS
from vehiclekit.sdk.remote import API_KEY_HEADER

#: Seconds to wait for ``/v2/health/ready`` before giving up.
STARTUP_TIMEOUT = 120.0
#: Triton APIs that need the API key when one is set: all but health (probes and the launcher's
#: readiness wait stay open; they reveal nothing but "up").
RESTRICTED_APIS = "metadata,inference,shared-memory,model-config,model-repository,statistics,trace,logging"
#: Seconds Triton may take to finish in-flight requests after SIGTERM before it is killed.
EXIT_TIMEOUT = 10
#: Log lines kept to explain a failed start.
LOG_TAIL = 40


def pytriton_dir() -> Path:
    """The installed ``pytriton`` package folder; says how to install it when it is missing."""
    try:
        import pytriton
    except ImportError:
        raise VehiclekitError(
            "the Triton server comes with nvidia-pytriton: pip install 'vehiclekit[serve]' "
            "(or serve the gpu-flavor repository with NVIDIA's tritonserver image, see deploy/)"
        ) from None
    return Path(pytriton.__file__).resolve().parent


def assemble_backends(dest: Path) -> Path:
    """Write the python backend folder Triton expects under ``dest`` (links into pytriton) and
    return ``dest``, for ``--backend-directory``."""
    root = pytriton_dir() / "tritonserver"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = root / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.is_file():
        raise VehiclekitError(f"nvidia-pytriton has no python backend stub for Python {version} ({stub})")
    python = dest / "python"
    python.mkdir(parents=True, exist_ok=True)
    for source in (root / "backends/python/libtriton_python.so", root / "backends/python/triton_python_backend_utils.py", stub):
        link = python / source.name
        if not link.exists():
            link.symlink_to(source)
    return dest


def server_environment() -> dict[str, str]:
    """This process's environment plus what the server and its python stubs need (module docstring)."""
    env = dict(os.environ)
    libs = pytriton_dir().parent / "nvidia_pytriton.libs"
    env["LD_LIBRARY_PATH"] = os.pathsep.join(
        p for p in (sysconfig.get_config_var("LIBDIR"), str(libs), env.get("LD_LIBRARY_PATH")) if p
    )
    env["PATH"] = os.pathsep.join(p for p in (str(Path(sys.executable).parent), env.get("PATH")) if p)
    env["OPENCV_IO_MAX_IMAGE_PIXELS"] = str(MAX_PIXELS)
    return env


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


#: Executable name of the python backend's per-instance stub process.
STUB_NAME = b"triton_python_backend_stub"


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
            str(pytriton_dir() / "tritonserver/bin/tritonserver"),
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
        self.process = subprocess.Popen(  # noqa: S603 - argument list built here, no shell
            self.command(self._backends),
            env=server_environment(),
            cwd=self.repo,  # the stub puts its working directory first on sys.path: keep it free of packages
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,  # its own process group: stop() signals the stubs too
            preexec_fn=_die_with_parent,
        )
        self._log_thread = threading.Thread(target=self._stream_log, name="tritonserver-log", daemon=True)
        self._log_thread.start()
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
        """The server's live python-backend stubs: model instance (e.g. ``vehicle_type_0_0``) -> pid.
        A stub that died (even a zombie the server has not reaped) is not listed."""
        stubs = {}
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
                parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if self.process is not None and parent == self.process.pid and argv[0].endswith(STUB_NAME) and len(argv) > 2:
                stubs[argv[-3].decode()] = int(proc.name)   # argv ends: ..., instance name, device kind, ""
        return stubs

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
        group = self.process.pid  # process group id == pid (start_new_session)
        if self.process.poll() is None:
            _signal_group(group, signal.SIGTERM)
            try:
                self.process.wait(timeout=self.exit_timeout + 5)
            except subprocess.TimeoutExpired:
                _signal_group(group, signal.SIGKILL)
                self.process.wait()
        _signal_group(group, signal.SIGKILL)  # stubs left behind by a crashed server, if any
        if self._log_thread is not None:
            self._log_thread.join(timeout=5)
        if self._backends is not None:
            shutil.rmtree(self._backends, ignore_errors=True)
            self._backends = None
        return self.process.returncode

    def _stream_log(self) -> None:
        sink = self.log if self.log is not None else sys.stderr
        for line in self.process.stdout:
            self._log_tail.append(line)
            sink.write(line)
            sink.flush()

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


def _signal_group(group: int, sig: signal.Signals) -> None:
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        pass


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGTERM it when the parent dies (PR_SET_PDEATHSIG).
    Tied to the starting thread: start servers from a thread that outlives them."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
