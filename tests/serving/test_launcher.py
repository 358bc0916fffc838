"""`vehiclekit serve` stops cleanly: no tritonserver or python stub outlives it; a failed start says why."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vehiclekit.errors import ServerError
from vehiclekit.serving.launcher import TritonServer, free_ports

SERVE = (
    "import argparse, sys\n"
    "from vehiclekit.serving import cli\n"
    "parser = argparse.ArgumentParser()\n"
    "cli.add_serve_arguments(parser)\n"
    "sys.exit(cli.run_serve(parser.parse_args(sys.argv[1:])))\n"
)


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        if entry.name.isdigit():
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_serve_and_leaves_no_process(cpu_repo, stop_signal):
    http_port, grpc_port, metrics_port = free_ports(3)
    args = ["--repo", str(cpu_repo), "--http-port", str(http_port), "--grpc-port", str(grpc_port),
            "--metrics-port", str(metrics_port)]
    serve = subprocess.Popen([sys.executable, "-c", SERVE, *args], stderr=subprocess.PIPE, text=True)
    log = []
    try:
        for line in serve.stderr:
            log.append(line)
            if "Triton ready" in line:
                break
        assert serve.poll() is None, "".join(log)
        tree = descendants(serve.pid)
        names = {command_name(pid) for pid in tree}
        assert "tritonserver" in names and "triton_python_b" in names, names  # server and its stubs
        serve.send_signal(stop_signal)
        assert serve.wait(timeout=60) == 0, "".join(log) + serve.stderr.read()
        deadline = time.monotonic() + 10
        while any(running(pid) for pid in tree) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in tree if running(pid)], f"left running: {[command_name(p) for p in tree if running(p)]}"
    finally:
        if serve.poll() is None:
            serve.kill()


def test_failed_start_reports_the_server_log(tmp_path):
    broken = tmp_path / "repo" / "broken"
    (broken / "1").mkdir(parents=True)
    (broken / "config.pbtxt").write_text('backend: "no_such_backend"\nmax_batch_size: 0\n')
    server = TritonServer(tmp_path / "repo", *free_ports(3), log=open(os.devnull, "w"), startup_timeout=60)
    with pytest.raises(ServerError, match="no_such_backend"):
        server.start()
    assert server.poll() is not None
    assert server.stop() == server.poll()  # stopping twice is harmless
