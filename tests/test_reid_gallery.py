"""Gallery (pure numpy, torch-free): add / search / remove, save / load round trip, no pickles."""

import pickle
import subprocess
import sys

import numpy as np
import pytest

from vehiclekit.errors import VehiclekitError
from vehiclekit.sdk import Gallery, Match


def unit(*v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture()
def gallery():
    g = Gallery()
    g.add("car-1", np.array([1.0, 0.0, 0.0], np.float32), {"camera": 2, "time": "08:02"})
    g.add(42, np.array([0.0, 2.0, 0.0]), {"camera": 2})          # int id; normalised on add
    g.add("car-3", np.array([1.0, 1.0, 0.0]))
    return g


def test_search_orders_by_cosine_similarity(gallery):
    matches = gallery.search(np.array([0.9, 0.1, 0.0]), k=2)
    assert [m.id for m in matches] == ["car-1", "car-3"]
    assert matches[0].similarity == pytest.approx(float(unit(0.9, 0.1, 0) @ unit(1, 0, 0)), abs=1e-6)
    assert matches[0].meta == {"camera": 2, "time": "08:02"} and isinstance(matches[0], Match)
    assert [m.id for m in gallery.search(np.array([0.0, 1.0, 0.0]), k=10)] == [42, "car-3", "car-1"]  # k > len
    assert gallery.search(unit(0, 1, 0), k=1)[0].similarity == pytest.approx(1.0)


def test_remove(gallery):
    gallery.remove("car-1")
    assert len(gallery) == 2 and "car-1" not in gallery
    assert gallery.search(np.array([1.0, 0.0, 0.0]), k=1)[0].id == "car-3"
    with pytest.raises(KeyError):
        gallery.remove("car-1")
    gallery.add("car-1", np.array([0.0, 0.0, 1.0]))   # the id is free again
    assert gallery.search(np.array([0.0, 0.0, 1.0]), k=1)[0].id == "car-1"


def test_add_validates(gallery):
    with pytest.raises(ValueError, match="already"):
        gallery.add("car-1", np.array([1.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="dimensions"):
        gallery.add("x", np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="JSON"):
        gallery.add("y", np.array([1.0, 0.0, 0.0]), {"when": object()})
    with pytest.raises(VehiclekitError, match="no embedder"):
        gallery.add("z", np.zeros((8, 8, 3), np.uint8))   # an image needs Gallery(VehicleReID())
    assert len(gallery) == 3
    assert Gallery().search(np.array([1.0, 0.0]), k=3) == []


def test_save_load_round_trip(gallery, tmp_path):
    path = gallery.save(tmp_path / "gallery")
    assert path.name == "gallery.npz"
    loaded = Gallery.load(path)
    assert loaded.ids == ["car-1", 42, "car-3"] and loaded.metas == gallery.metas and loaded.dim == 3
    np.testing.assert_array_equal(loaded.embeddings, gallery.embeddings)
    q = np.array([0.3, 0.7, 0.1])
    assert loaded.search(q, k=3) == gallery.search(q, k=3)
    Gallery().save(tmp_path / "empty.npz")
    assert len(Gallery.load(tmp_path / "empty.npz")) == 0


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))  # unpickling would create the marker file


def test_load_rejects_pickles(tmp_path):
    marker = tmp_path / "pwned"
    raw = tmp_path / "raw.npz"
    raw.write_bytes(pickle.dumps(_Payload(str(marker))))
    objects = tmp_path / "objects.npz"
    np.savez(objects, embeddings=np.zeros((1, 3), np.float32), manifest=np.array([_Payload(str(marker))], dtype=object))
    for path in (raw, objects):
        with pytest.raises(VehiclekitError, match="pickle"):
            Gallery.load(path)
    assert not marker.exists()


def test_sdk_reid_and_gallery_import_without_torch():
    code = ("import sys; from vehiclekit.sdk import VehicleReID, Gallery, Match; import vehiclekit.sdk.reid, vehiclekit.sdk.gallery; "
            "assert not [m for m in ('torch', 'torchvision') if m in sys.modules]")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
