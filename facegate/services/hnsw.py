"""1:N search through the store's approximate index (PostgreSQL + pgvector HNSW).

Past ``storage.hnsw_above`` face samples a PostgreSQL-backed server stops holding descriptors in
memory and asks the database instead: ``ORDER BY descriptor <-> probe LIMIT n`` walks the HNSW
graph with ``ef_search`` candidates. It is approximate: bench/search measures how often it returns
the exact answer at each ``ef_search``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from facegate.domain import Descriptor
from facegate.matching import Hit
from facegate.storage.base import GalleryStore

#: Face samples fetched per identity asked for, so that identities with several samples still
#: fill the top k (pgvector returns at most ``ef_search`` rows).
ROWS_PER_IDENTITY = 4


@runtime_checkable
class NearestStore(Protocol):
    """A store with an approximate nearest-sample query (``PostgresStore``)."""

    def nearest(self, probe: Descriptor, k: int, ef_search: int | None = None
                ) -> list[tuple[str, str, float]]: ...


def supports_hnsw(store: GalleryStore) -> bool:
    return isinstance(store, NearestStore)


class HnswSearch:
    """``DescriptorIndex.search``'s contract answered by the store's HNSW index."""

    method = "hnsw"

    def __init__(self, store: GalleryStore, *, ef_search: int) -> None:
        if not isinstance(store, NearestStore):
            raise TypeError(f"{type(store).__name__} has no approximate index")
        self._store = store
        self._nearest = store
        self.ef_search = ef_search

    def search(self, probe: Descriptor, *, k: int, identity_id: str | None = None) -> list[Hit]:
        """The ``k`` closest identities (each by its closest sample found), nearest first.

        With ``identity_id``: exact, over that identity's own samples (a handful of rows)."""
        if identity_id is not None:
            samples = self._store.list_faces(identity_id)
            if not samples:
                return []
            matrix = np.stack([s.descriptor for s in samples]).astype(np.float32)
            found = np.linalg.norm(matrix - np.asarray(probe, dtype=np.float32), axis=1)
            best = int(np.argmin(found))
            return [Hit(identity_id, samples[best].id, float(found[best]))]
        rows = self._nearest.nearest(probe, k=min(max(self.ef_search, k), ROWS_PER_IDENTITY * k),
                                     ef_search=self.ef_search)
        hits: list[Hit] = []
        seen: set[str] = set()
        for face_id, owner, value in rows:
            if owner not in seen:
                seen.add(owner)
                hits.append(Hit(owner, face_id, value))
                if len(hits) == k:
                    break
        return hits
