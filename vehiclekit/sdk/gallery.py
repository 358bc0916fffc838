"""A searchable gallery of vehicle embeddings: exact (brute-force) cosine search in numpy.

>>> from vehiclekit.sdk import Gallery, VehicleReID
>>> gallery = Gallery(VehicleReID())                          # doctest: +SKIP
>>> gallery.add("entry-0001", "entry_cam/0001.jpg", {"time": "08:02"})   # doctest: +SKIP
>>> gallery.search("exit_cam/frame.jpg", k=5)                 # doctest: +SKIP
[Match(id='entry-0001', similarity=0.83, meta={'time': '08:02'}), ...]

Entries are ``(id, unit embedding, meta)``; ids are unique strings or ints, ``meta`` any
JSON-serialisable dict. ``save``/``load`` use one ``.npz`` file holding the float32 embedding matrix
and a JSON manifest (ids, metadata, model name); loading never unpickles
(``np.load(allow_pickle=False)``), so a gallery file from elsewhere cannot run code.

Scaling beyond brute force (FAISS)
----------------------------------
``search`` is one matrix-vector product: exact, and fast up to ~10^5-10^6 vectors (10^6 × 256
float32 = 1 GB, a few ms to tens of ms per query on a CPU). Beyond ~10^6 vectors use an index:
`FAISS <https://github.com/facebookresearch/faiss>`_ (``pip install faiss-cpu``, MIT). The embeddings
are unit vectors, so inner product is cosine similarity::

    import faiss
    index = faiss.IndexFlatIP(dim)                 # exact, same results as Gallery.search
    # or, approximate for 10^6-10^9 vectors: IVF + product quantisation
    index = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, 4096, 32, 8, faiss.METRIC_INNER_PRODUCT)
    index.train(sample_embeddings); index.nprobe = 16
    index.add(gallery.embeddings)                  # row i <-> gallery.ids[i]
    similarities, rows = index.search(query[None].astype("float32"), k)

(``IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)`` is the no-training alternative.) Keep the
ids/meta in this class (or a database) and the vectors in the index; ``faiss.write_index`` saves it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from vehiclekit.errors import VehiclekitError
from vehiclekit.sdk.image import ImageInput

if TYPE_CHECKING:
    from vehiclekit.sdk.reid import VehicleReID

GalleryId = Union[str, int]
FORMAT = "vehiclekit.gallery/1"


class Match(BaseModel):
    """One search result: the entry's id, its cosine similarity to the query (-1..1) and its meta."""

    model_config = ConfigDict(frozen=True)

    id: GalleryId
    similarity: float = Field(description="cosine similarity of the query and the entry's embedding")
    meta: dict[str, Any] = Field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.id} {self.similarity:.3f}"


class Gallery:
    """Embeddings with ids and metadata; exact cosine search. ``embedder`` (a :class:`VehicleReID`)
    is needed only to add or search with images instead of embeddings."""

    def __init__(self, embedder: "VehicleReID | None" = None, dim: int | None = None):
        self.embedder = embedder
        self.dim = dim or (embedder.dim if embedder is not None else None)
        self.ids: list[GalleryId] = []
        self.metas: list[dict[str, Any]] = []
        self.embeddings = np.zeros((0, self.dim or 0), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, id: GalleryId) -> bool:
        return id in self.ids

    def add(self, id: GalleryId, image_or_embedding: ImageInput | np.ndarray, meta: dict[str, Any] | None = None) -> None:
        """Add one entry. A 1-D float array is taken as an embedding (normalised here); anything
        else is an image for the embedder. Raises ``ValueError`` for a duplicate id, metadata that is
        not JSON-serialisable, or an embedding of the wrong dimension."""
        if not isinstance(id, (str, int)) or isinstance(id, bool):
            raise ValueError(f"gallery ids are str or int, got {type(id).__name__}")
        if id in self.ids:
            raise ValueError(f"id {id!r} is already in the gallery: remove() it first to replace it")
        meta = dict(meta or {})
        try:
            json.dumps(meta)
        except (TypeError, ValueError) as e:
            raise ValueError(f"meta of {id!r} must be JSON-serialisable (it is saved as JSON): {e}") from None
        vector = self._vector(image_or_embedding)
        if not len(self.ids):
            self.embeddings = np.zeros((0, len(vector)), dtype=np.float32)
        self.embeddings = np.vstack([self.embeddings, vector[None]])
        self.ids.append(id)
        self.metas.append(meta)

    def remove(self, id: GalleryId) -> None:
        """Remove the entry ``id``; ``KeyError`` when absent."""
        try:
            row = self.ids.index(id)
        except ValueError:
            raise KeyError(f"id {id!r} is not in the gallery") from None
        del self.ids[row], self.metas[row]
        self.embeddings = np.delete(self.embeddings, row, axis=0)

    def search(self, image_or_embedding: ImageInput | np.ndarray, k: int = 5) -> list[Match]:
        """The ``k`` entries most similar to the query (cosine), most similar first; ties keep insertion order."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if not self.ids:
            return []
        similarities = self.embeddings @ self._vector(image_or_embedding)
        order = np.argsort(-similarities, kind="stable")[:k]
        return [Match(id=self.ids[i], similarity=float(similarities[i]), meta=self.metas[i]) for i in order]

    def save(self, path: str | os.PathLike) -> Path:
        """Write the gallery to ``path`` (``.npz``; atomic). Returns the path written."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        manifest = {"format": FORMAT, "ids": self.ids, "meta": self.metas, "dim": self.dim,
                    "model": self.embedder.metadata.name if self.embedder is not None else None}
        tmp = path.with_name(f".{path.name}.tmp.npz")
        np.savez(tmp, embeddings=self.embeddings.astype(np.float32), manifest=np.array(json.dumps(manifest)))
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, embedder: "VehicleReID | None" = None) -> "Gallery":
        """Read a gallery written by :meth:`save`. Files holding pickled objects are refused."""
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                embeddings = np.asarray(data["embeddings"], dtype=np.float32)
                manifest = json.loads(str(data["manifest"]))
        except (ValueError, KeyError, OSError, json.JSONDecodeError) as e:
            raise VehiclekitError(f"{path} is not a vehiclekit gallery (.npz without pickles): {e}") from None
        if manifest.get("format") != FORMAT or len(manifest["ids"]) != len(embeddings):
            raise VehiclekitError(f"{path} is not a {FORMAT} file or its ids and embeddings disagree")
        gallery = cls(embedder, dim=manifest.get("dim") or (embeddings.shape[1] if len(embeddings) else None))
        gallery.ids, gallery.metas, gallery.embeddings = list(manifest["ids"]), list(manifest["meta"]), embeddings
        return gallery

    def _vector(self, image_or_embedding: ImageInput | np.ndarray) -> np.ndarray:
        item = image_or_embedding
        if isinstance(item, np.ndarray) and item.ndim == 1 and np.issubdtype(item.dtype, np.floating):
            vector = item.astype(np.float32)
        else:
            if self.embedder is None:
                raise VehiclekitError("this gallery has no embedder: pass Gallery(VehicleReID()) to use images, "
                                      "or pass 1-D float embeddings")
            vector = self.embedder.embed(item)
        norm = float(np.linalg.norm(vector))
        if not np.isfinite(norm) or norm == 0:
            raise ValueError("embedding is zero or not finite")
        if self.dim is None:
            self.dim = len(vector)
        if len(vector) != self.dim:
            raise ValueError(f"embedding has {len(vector)} dimensions, the gallery {self.dim}")
        return vector / norm

    def __repr__(self) -> str:
        return f"Gallery({len(self)} entries, dim={self.dim})"

