"""What the pip ``tritonserver`` that ``nvidia-pytriton`` installs (``pip install 'vehiclekit[serve]'``)
needs to run, and its python-backend stub processes.

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
"""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

from vehiclekit.errors import VehiclekitError
from vehiclekit.sdk.image import MAX_PIXELS

#: Executable name of the python backend's per-instance stub process.
STUB_NAME = b"triton_python_backend_stub"


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


def tritonserver_binary() -> Path:
    return pytriton_dir() / "tritonserver/bin/tritonserver"


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


def python_stubs(server_pid: int) -> dict[str, int]:
    """The live python-backend stubs of the server ``server_pid``: model instance (e.g.
    ``vehicle_type_0_0``) -> pid. A stub that died (even a zombie the server has not reaped) is not listed."""
    stubs = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == server_pid and argv[0].endswith(STUB_NAME) and len(argv) > 2:
            stubs[argv[-3].decode()] = int(proc.name)   # argv ends: ..., instance name, device kind, ""
    return stubs
