"""`vehiclekit serve` stops cleanly: no tritonserver or python stub outlives it; a failed start says why; a
killed server or python stub is survived (restart, same client)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from vehiclekit.errors import ServerError
from vehiclekit.serving.launcher import TritonServer, free_ports

SERVE = (
    "import argparse, sys\n"
    "from vehiclekit.commands import serve\n"
    "parser = argparse.ArgumentParser()\n"
    "serve.add_arguments(parser)\n"
    "sys.exit(serve.run(parser.parse_args(sys.argv[1:])))\n"
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


@pytest.mark.slow
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


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_kill_9_mid_load_then_restart_the_same_client_works_again(cpu_repo, protocol, tmp_path):
    """The server is killed (SIGKILL to its whole group) while a client sends requests: each request
    fails with a ServerError that says what to do, within its retries; after `vehiclekit serve`
    comes back on the same ports, the same client object works again without being rebuilt."""
    from vehiclekit.paths import data_root
    from vehiclekit.sdk import VehicleClassifier
    from vehiclekit.sdk.remote import TritonClient

    image = str(sorted((data_root() / "vehicle-reid" / "images" / "test").glob("car_*.jpg"))[0])
    ports = free_ports(3)
    first = TritonServer(cpu_repo, *ports, log=open(tmp_path / "first.log", "w"), exit_timeout=2).start()
    url = first.http_url if protocol == "http" else first.grpc_url
    classifier = VehicleClassifier(url=TritonClient(url, timeout=10, retries=2, backoff=0.2))
    expected = classifier.predict(image)
    outcomes: list[object] = []
    stop = threading.Event()

    def load() -> None:                                     # requests back to back while the server dies
        while not stop.is_set():
            try:
                outcomes.append(classifier.predict(image).label)
            except Exception as e:  # noqa: BLE001 - recorded: the test asserts each one's type
                outcomes.append(e)

    sender = threading.Thread(target=load)
    try:
        sender.start()
        time.sleep(1.0)
        os.killpg(first.process.pid, signal.SIGKILL)
        first.process.wait(timeout=30)
        time.sleep(3.0)
        stop.set()
        sender.join(timeout=60)
        errors = [o for o in outcomes if isinstance(o, Exception)]
        assert outcomes[0] == expected.label and errors, outcomes[:3]
        assert all(isinstance(e, ServerError) for e in errors), {type(e).__name__ for e in errors}
        start = time.perf_counter()
        with pytest.raises(ServerError, match="cannot reach the Triton server .* Is it running"):
            classifier.predict(image)
        assert time.perf_counter() - start < 15            # 3 attempts with 0.2 / 0.4 s backoff, not a hang
    finally:
        first.stop()
    with TritonServer(cpu_repo, *ports, log=open(tmp_path / "second.log", "w"), exit_timeout=2) as second:
        assert second.process.pid != first.process.pid
        again = classifier.predict(image)                   # the very same client object
    assert again.label == expected.label and again.confidence == pytest.approx(expected.confidence, abs=1e-6)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_killed_python_stub_gets_the_server_restarted_and_the_same_client_works(cpu_repo):
    """Triton keeps reporting a model ready after its python-backend stub dies and fails every request
    to it; `vehiclekit serve` notices, says so, restarts the server, and the same client object works."""
    from vehiclekit.paths import data_root
    from vehiclekit.sdk import VehicleClassifier
    from vehiclekit.sdk.remote import TritonClient

    image = str(sorted((data_root() / "vehicle-reid" / "images" / "test").glob("car_*.jpg"))[0])
    http_port, grpc_port, metrics_port = free_ports(3)
    args = ["--repo", str(cpu_repo), "--http-port", str(http_port), "--grpc-port", str(grpc_port),
            "--metrics-port", str(metrics_port)]
    serve = subprocess.Popen([sys.executable, "-c", SERVE, *args], stderr=subprocess.PIPE, text=True)
    log: list[str] = []

    def read_until(text: str) -> None:
        for line in serve.stderr:
            log.append(line)
            if text in line:
                return
        raise AssertionError(f"serve exited before {text!r}:\n{''.join(log)}")

    try:
        read_until("Triton ready")
        classifier = VehicleClassifier(url=TritonClient(f"http://127.0.0.1:{http_port}", timeout=10, retries=1, backoff=0.2))
        expected = classifier.predict(image)
        stubs = {pid: Path(f"/proc/{pid}/cmdline").read_bytes() for pid in descendants(serve.pid)
                 if command_name(pid).startswith("triton_python_b")}
        victim = next(pid for pid, argv in stubs.items() if b"vehicle_type_0_0" in argv)
        os.kill(victim, signal.SIGKILL)
        read_until("restarting the server")
        assert "vehicle_type_0_0" in log[-1]
        read_until("Triton ready again")
        again = classifier.predict(image)                   # the very same client object
        assert again.label == expected.label and again.confidence == pytest.approx(expected.confidence, abs=1e-6)
        assert serve.poll() is None
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
