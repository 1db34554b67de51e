"""The gallery's search index kept in step with every write to the store: exact search, or HNSW
past a size, caught up from the store's change log when another process wrote."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from facegate.domain import Descriptor, FaceSample, Identity, SearchMethod
from facegate.matching import DescriptorIndex, Hit
from facegate.services.hnsw import HnswSearch, supports_hnsw
from facegate.storage.base import ClassifierRewrite, GalleryStore
from facegate.storage.identity_links import AuditErasure, ErasedFaces

logger = logging.getLogger(__name__)
T = TypeVar("T")


class IndexedGallery:
    """A store plus its in-memory search index.

    The index is loaded at start and updated by every write made through this object. When another
    process (a CLI enrol, another replica) writes, the store's change marker moves, and before the
    next search the index applies the store's delta since its marker (``changes_since``: only the
    changed face samples) or, when the store keeps no change log, reloads everything.

    On a store with an approximate index (PostgreSQL + pgvector) past ``hnsw_above`` face samples,
    at start or as the gallery grows, searches go to the store's HNSW index instead and nothing is
    held here (``services/hnsw.py``); ``method`` says which is in use.
    """

    def __init__(self, store: GalleryStore, *, hnsw_above: int | None = None,
                 ef_search: int = 400) -> None:
        self.store = store
        self.index = DescriptorIndex()
        self._lock = threading.Lock()
        self._marker: int | None = None
        #: Past this many face samples a store with an approximate index (PostgreSQL) is
        #: searched there and no descriptor is held here; None: always the exact index.
        self._hnsw_above = hnsw_above if supports_hnsw(store) else None
        self._hnsw = HnswSearch(store, ef_search=ef_search) \
            if self._hnsw_above is not None else None
        self._searcher: DescriptorIndex | HnswSearch = self.index
        if self._hnsw_above is not None and store.counts()[1] > self._hnsw_above:
            self._use_hnsw()
        self.refresh()

    @property
    def method(self) -> SearchMethod:
        """How ``search`` answers: exactly from memory, or through the store's HNSW index."""
        if isinstance(self._searcher, HnswSearch):
            return SearchMethod("hnsw", self._searcher.ef_search)
        return SearchMethod("exact")

    @property
    def index_marker(self) -> int | None:
        """The store's change marker the in-memory index has caught up to (it catches up before
        each search); None before the first load or while the store's HNSW index answers."""
        return None if self._searcher is self._hnsw else self._marker

    def search(self, probe: Descriptor, *, k: int, identity_id: str | None = None) -> list[Hit]:
        """The ``k`` closest identities (``DescriptorIndex.search``'s contract)."""
        return self._searcher.search(probe, k=k, identity_id=identity_id)

    def _use_hnsw(self) -> None:
        """Hand searching to the store's index for good (until restart) and free the memory."""
        assert self._hnsw is not None
        self._searcher = self._hnsw
        self.index = DescriptorIndex()
        logger.info("gallery past %d face samples: searching the HNSW index (ef_search %d)",
                    self._hnsw_above, self._hnsw.ef_search)

    def refresh(self) -> None:
        """Catch up with the store's changes (one cheap query when there are none)."""
        if self._searcher is self._hnsw:
            return  # the store answers every search itself: nothing held here to catch up
        if self.store.change_marker() == self._marker:
            return
        with self._lock:
            self._catch_up()
            if self._hnsw_above is not None and len(self.index) > self._hnsw_above:
                self._use_hnsw()

    def _catch_up(self) -> None:
        changes = None if self._marker is None else self.store.changes_since(self._marker)
        if changes is not None:
            # the current state of each changed sample: replaying our own writes is harmless
            for face_id in changes.removed:
                self.index.remove(face_id)
            for face_id, identity_id, descriptor in changes.upserts:
                self.index.add(face_id, identity_id, descriptor)
            self._marker = changes.marker
            return
        marker = self.store.change_marker()
        if marker != self._marker:
            rows = self.store.descriptors()
            self.index.replace_all(rows)
            self._marker = marker
            logger.info("search index loaded: %d face samples", len(rows))

    # Own writes hold the same lock as a reload, so a reload's snapshot never drops them.
    def add(self, sample: FaceSample) -> None:
        with self._lock:
            self.store.add_face(sample)
            if self._searcher is self.index:
                self.index.add(sample.id, sample.identity_id, sample.descriptor)

    def add_identity(self, identity: Identity, samples: list[FaceSample]) -> None:
        """Insert an identity together with its samples, in one store transaction."""
        with self._lock:
            self.store.restore(identity, samples)
            if self._searcher is self.index:
                for sample in samples:
                    self.index.add(sample.id, sample.identity_id, sample.descriptor)

    def write_with(self, samples: list[FaceSample], write: Callable[[], T]) -> T:
        """Run ``write``, one store transaction that inserts ``samples`` among other rows (the
        review queue's actions), and index the samples once it has committed."""
        with self._lock:
            result = write()
            if self._searcher is self.index:
                for sample in samples:
                    self.index.add(sample.id, sample.identity_id, sample.descriptor)
        return result

    def delete_identity(self, identity_id: str, *,
                        rewrite: ClassifierRewrite | None = None,
                        audit: AuditErasure | None = None) -> ErasedFaces:
        with self._lock:
            face_ids = self.store.delete_identity(identity_id, rewrite=rewrite, audit=audit)
            for face_id in face_ids:
                self.index.remove(face_id)
        return face_ids

    def delete_face(self, identity_id: str, face_id: str, *,
                    rewrite: ClassifierRewrite | None = None) -> None:
        with self._lock:
            self.store.delete_face(identity_id, face_id, rewrite=rewrite)
            self.index.remove(face_id)
