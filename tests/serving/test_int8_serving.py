"""`vehiclekit serve --precision int8`: the server runs the zoo's INT8 files and answers exactly what the
embedded SDK answers with ``precision="int8"``."""

from __future__ import annotations

import numpy as np
import pytest

from vehiclekit.sdk import VehicleRecognizer
from vehiclekit.serving.launcher import TritonServer, free_ports
from vehiclekit.serving.repository import build_repository


@pytest.mark.timeout(300)
def test_int8_server_matches_the_embedded_int8_recognizer(tmp_path, street_jpeg):
    repo = build_repository(tmp_path / "int8", "cpu", precision="int8")
    embedded = VehicleRecognizer(reid=True, attributes=("make",), precision="int8").recognize(street_jpeg)
    with open(tmp_path / "triton.log", "w") as log, TritonServer(repo, *free_ports(3), log=log, exit_timeout=2) as server:
        remote = VehicleRecognizer(url=server.grpc_url, reid=True, attributes=("make",)).recognize(street_jpeg)
    assert len(remote) == len(embedded) >= 5 and any(v.attributes for v in embedded)
    for r, e in zip(remote, embedded):
        assert r.detection.bbox == pytest.approx(e.detection.bbox, abs=0.5)
        assert r.classification.label == e.classification.label
        assert r.classification.confidence == pytest.approx(e.classification.confidence, abs=1e-4)
        assert {k: v.label for k, v in r.attributes.items()} == {k: v.label for k, v in e.attributes.items()}
        assert np.allclose(r.embedding, e.embedding, atol=1e-4)
