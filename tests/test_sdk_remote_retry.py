"""The SDK's HTTP client retries with backoff when the server refuses or drops the connection,
then says what to do (real sockets on localhost; no Triton server needed)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from vehiclekit.errors import ServerError
from vehiclekit.sdk.remote import TritonClient


def test_connection_refused_is_retried_with_doubling_backoff():
    with socket.socket() as probe:                     # a port nobody listens on: connections are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(ServerError) as error:
        TritonClient(f"http://127.0.0.1:{port}", retries=2, backoff=0.1).signature("vehicle_type")
    elapsed = time.monotonic() - started
    message = str(error.value)
    assert "after 3 attempts" in message and "ConnectionRefusedError" in message and "vehiclekit serve" in message
    assert f"http://127.0.0.1:{port}" in message and "'vehicle_type'" in message
    assert 0.3 <= elapsed < 5                          # waited 0.1 then 0.2 s between the three attempts
    started = time.monotonic()
    with pytest.raises(ServerError, match="after 1 attempts"):
        TritonClient(f"http://127.0.0.1:{port}", retries=0, backoff=1.0).signature("vehicle_type")
    assert time.monotonic() - started < 1.0            # no retry: no wait


def test_a_dropped_connection_is_retried_at_the_backoff_times():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[float] = []

    def accept_and_close() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            accepted.append(time.monotonic())
            connection.close()

    threading.Thread(target=accept_and_close, daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(ServerError, match="after 3 attempts"):
            TritonClient(f"http://127.0.0.1:{server.getsockname()[1]}", retries=2, backoff=0.2).signature("vehicle_type")
    finally:
        server.close()
    # connections come in bursts, one per attempt: at about 0, 0.2 and 0.6 s
    bursts = [t - started for i, t in enumerate(accepted) if i == 0 or t - accepted[i - 1] > 0.1]
    assert len(bursts) == 3 and bursts[1] - bursts[0] >= 0.2 and bursts[2] - bursts[1] >= 0.4
