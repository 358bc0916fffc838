"""Gallery edge cases: ties, k, a gallery emptied by remove, bad ids and vectors, an empty gallery
saved and loaded, and search by real images with the shipped re-ID model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vehiclekit.sdk import Gallery, VehicleReID


def test_ties_keep_insertion_order_and_k_is_checked():
    g = Gallery()
    for name in ("b", "a", "c"):
        g.add(name, np.array([1.0, 0.0]))
    assert [m.id for m in g.search(np.array([1.0, 0.0]), k=3)] == ["b", "a", "c"]
    assert [m.id for m in g.search(np.array([1.0, 0.0]), k=1)] == ["b"]
    with pytest.raises(ValueError, match="k must be >= 1"):
        g.search(np.array([1.0, 0.0]), k=0)


def test_a_gallery_emptied_by_remove_searches_to_nothing_and_keeps_its_dimension():
    g = Gallery()
    g.add("only", np.array([0.0, 3.0, 4.0]))
    g.remove("only")
    assert len(g) == 0 and g.search(np.array([0.0, 0.0, 1.0])) == []
    with pytest.raises(ValueError, match="3"):
        g.add("other", np.array([1.0, 0.0]))
    g.add("again", np.array([0.0, 0.0, 2.0]))
    assert g.search(np.array([0.0, 3.0, 4.0]))[0].similarity == pytest.approx(0.8)


@pytest.mark.parametrize("bad_id", [True, 1.5, None, ("a",)])
def test_ids_are_str_or_int_only(bad_id):
    with pytest.raises(ValueError, match="str or int"):
        Gallery().add(bad_id, np.array([1.0, 0.0]))


@pytest.mark.parametrize("vector", [[0.0, 0.0], [np.nan, 1.0], [np.inf, 0.0]])
def test_zero_or_non_finite_embeddings_are_refused(vector):
    g = Gallery()
    with pytest.raises(ValueError, match="zero or not finite"):
        g.add("x", np.array(vector))
    assert len(g) == 0


def test_an_empty_gallery_round_trips(tmp_path: Path):
    path = Gallery(dim=4).save(tmp_path / "empty")
    assert path.name == "empty.npz"
    loaded = Gallery.load(path)
    assert len(loaded) == 0 and loaded.dim == 4 and loaded.search(np.ones(4)) == []
    with pytest.raises(ValueError, match="dimensions"):
        loaded.add("x", np.ones(3))


def test_search_by_real_images_finds_the_same_vehicle(data_dir: Path):
    images = data_dir / "vehicle-reid" / "images" / "test"
    reid = VehicleReID()
    g = Gallery(reid)
    for vehicle in ("bus_0002", "car_0001", "bus_0004"):
        g.add(vehicle, images / f"{vehicle}_cam1.jpg", {"camera": 1})
    best = g.search(images / "bus_0002_cam2.jpg", k=3)
    assert best[0].id == "bus_0002" and best[0].meta == {"camera": 1}
    assert best[0].similarity > best[1].similarity
    # an image and its precomputed embedding are the same query
    assert g.search(reid.embed(images / "bus_0002_cam2.jpg"), k=3) == best
