"""Facing a network: a real Triton started by the launcher with an API key (Triton's restricted APIs)
and gRPC over TLS (a certificate made here with openssl). Without the key nothing but health
answers; with it the SDK works over HTTP and grpcs://; a plaintext client or one that does not trust
the certificate gets a clear ServerError."""

from __future__ import annotations

import argparse
import secrets
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from vehiclekit.commands.serve import _security_options
from vehiclekit.errors import ServerError, VehiclekitError
from vehiclekit.sdk import VehicleClassifier
from vehiclekit.sdk.remote import TritonClient
from vehiclekit.serving.launcher import TritonServer, free_ports

IMAGE = "vehicle-types/car/car1.jpg"


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.fail("the TLS tests need the openssl command (apt-get install openssl)", pytrace=False)
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),  # noqa: S607 - the system openssl, fixed arguments
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture(scope="module")
def secured(cpu_repo, tls, tmp_path_factory):
    """(server, api key): every API but health restricted, gRPC over TLS."""
    api_key = secrets.token_urlsafe(24)
    http_port, grpc_port, metrics_port = free_ports(3)
    with open(tmp_path_factory.mktemp("logs") / "triton.log", "w") as log:
        server = TritonServer(cpu_repo, http_port, grpc_port, metrics_port, log=log, exit_timeout=2,
                              api_key=api_key, grpc_tls=tls)
        server.start()
        try:
            yield server, api_key
        finally:
            server.stop()


@pytest.fixture(scope="module")
def embedded(data_dir):
    return VehicleClassifier().predict(data_dir / IMAGE)


def test_without_the_key_only_health_answers(secured, data_dir):
    server, _ = secured
    with urllib.request.urlopen(server.http_url + "/v2/health/ready", timeout=10) as ready:  # noqa: S310 - our own loopback server
        assert ready.status == 200                                   # probes and load balancers still work
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(server.http_url + "/v2/models/vehicle_type", timeout=10)  # noqa: S310 - our own loopback server
    assert refused.value.code == 403
    for key, says in ((None, "none was sent"), ("not-the-key-0123456789", "the one sent is wrong")):
        client = TritonClient(server.http_url, retries=0, api_key=key or "")
        with pytest.raises(ServerError, match=f"requires an API key \\({says}\\).*VEHICLEKIT_API_KEY"):
            VehicleClassifier(url=client).predict(data_dir / IMAGE)


def test_without_the_key_grpc_refuses_too(secured, tls, data_dir, embedded):
    """The gRPC side of the restriction (``--grpc-restricted-protocol``): a trusted grpcs:// client
    without the key, or with a wrong one, gets the same clear ServerError; with the key it answers."""
    server, api_key = secured
    assert server.grpc_url.startswith("grpcs://")
    for key, says in ((None, "none was sent"), ("not-the-key-0123456789", "the one sent is wrong")):
        client = TritonClient(server.grpc_url, retries=0, api_key=key or "", tls_ca=tls[0], timeout=10)
        with pytest.raises(ServerError, match=f"requires an API key \\({says}\\).*VEHICLEKIT_API_KEY"):
            VehicleClassifier(url=client).predict(data_dir / IMAGE)
    client = TritonClient(server.grpc_url, retries=0, api_key=api_key, tls_ca=tls[0], timeout=10)
    assert VehicleClassifier(url=client).predict(data_dir / IMAGE).label == embedded.label


def test_with_the_key_http_and_grpcs_answer_as_embedded(secured, tls, data_dir, embedded):
    server, api_key = secured
    assert server.grpc_url.startswith("grpcs://")
    for url in (server.http_url, server.grpc_url):
        client = TritonClient(url, api_key=api_key, tls_ca=tls[0])
        remote = VehicleClassifier(url=client).predict(data_dir / IMAGE)
        assert remote.label == embedded.label and remote.confidence == pytest.approx(embedded.confidence, abs=1e-5)


def test_the_key_and_ca_come_from_the_environment(secured, tls, data_dir, embedded, monkeypatch):
    server, api_key = secured
    monkeypatch.setenv("VEHICLEKIT_API_KEY", api_key)
    monkeypatch.setenv("VEHICLEKIT_TLS_CA", str(tls[0]))
    assert VehicleClassifier(url=server.grpc_url).predict(data_dir / IMAGE).label == embedded.label


def test_plaintext_or_untrusted_grpc_clients_are_refused_clearly(secured, data_dir):
    server, api_key = secured
    plaintext = server.grpc_url.replace("grpcs://", "grpc://")
    for client in (TritonClient(plaintext, retries=0, api_key=api_key, timeout=10),
                   TritonClient(server.grpc_url, retries=0, api_key=api_key, timeout=10, tls_ca=None)):
        with pytest.raises(ServerError, match="cannot reach the Triton server"):
            VehicleClassifier(url=client).predict(data_dir / IMAGE)


def test_serve_options_refuse_weak_keys_and_half_a_tls_pair(tmp_path, tls):
    def options(**given) -> dict:
        return _security_options(argparse.Namespace(**{"api_key_file": None, "grpc_tls_cert": None,
                                                       "grpc_tls_key": None, **given}))

    (tmp_path / "short").write_text("abc\n")
    with pytest.raises(VehiclekitError, match="at least 16 characters"):
        options(api_key_file=tmp_path / "short")
    with pytest.raises(VehiclekitError, match="go together"):
        options(grpc_tls_cert=tls[0])
    (tmp_path / "good").write_text("k" * 32 + "\n")
    assert options(api_key_file=tmp_path / "good", grpc_tls_cert=tls[0], grpc_tls_key=tls[1]) == \
        {"api_key": "k" * 32, "grpc_tls": (tls[0], tls[1])}
