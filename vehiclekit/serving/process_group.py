"""A server process in its own process group: started so that it dies with its parent (Linux),
its output kept line by line, and stopped with SIGTERM, then SIGKILL after a grace period, as a
group, so no child of it (a python-backend stub) outlives it."""

from __future__ import annotations

import collections
import ctypes
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO


def start_group(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """``argv`` started as the leader of a new process group, its stdout and stderr merged into one text pipe."""
    return subprocess.Popen(  # noqa: S603 - argument list built by the caller, no shell
        argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        errors="replace", start_new_session=True, preexec_fn=_die_with_parent,
    )


def stop_group(process: subprocess.Popen, grace: float) -> int:
    """SIGTERM the group of ``process`` (SIGKILL after ``grace`` seconds), then SIGKILL whatever of
    the group is left (children of a crashed leader); the leader's exit status."""
    group = process.pid  # process group id == pid (start_group)
    if process.poll() is None:
        _signal_group(group, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(group, signal.SIGKILL)
            process.wait()
    _signal_group(group, signal.SIGKILL)
    return process.returncode


def copy_output(process: subprocess.Popen, sink: IO[str] | None, lines: collections.deque[str]) -> threading.Thread:
    """A started thread copying ``process``'s output line by line to ``sink`` (default: this
    process's stderr) and appending each line to ``lines`` (a bounded deque: the last ones)."""

    def copy() -> None:
        out = sink if sink is not None else sys.stderr
        for line in process.stdout:
            lines.append(line)
            out.write(line)
            out.flush()

    thread = threading.Thread(target=copy, name="tritonserver-log", daemon=True)
    thread.start()
    return thread


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
