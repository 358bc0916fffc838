"""`vehiclekit count --url`: the detector and the classifier run on the real Triton server, and the
counts are the embedded ones (the GIF: one car in, see tests/test_video_count.py for the hand count)."""

from __future__ import annotations

import json

from vehiclekit.cli import main as vehiclekit


def test_counting_through_triton_matches_the_embedded_count(server, data_dir, capsys):
    gif = str(data_dir / "videos" / "parking-lot-car-bicycle.gif")
    common = [gif, "--line", "lane=0,140,300,140", "--detector", "yolox", "--json"]
    results = []
    for extra in ([], ["--url", server.http_url], ["--url", server.grpc_url]):
        capsys.readouterr()
        assert vehiclekit(["count", *common, *extra]) == 0
        results.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    embedded, *remote = results
    assert embedded["by_type"] == {"car": {"in": 1, "out": 0}}
    for summary in remote:
        assert (summary["in"], summary["out"], summary["by_type"]) == (embedded["in"], embedded["out"], embedded["by_type"])
        assert [c["frame"] for c in summary["crossings"]] == [c["frame"] for c in embedded["crossings"]]
