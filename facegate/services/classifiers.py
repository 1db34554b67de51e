"""The stored classifiers (list, activate, delete) and the active one, loaded once per version.

Activation lives in the store, so every replica on one PostgreSQL follows it: ``current()``
asks the store which classifier is active (one small query, at most once a second) and loads its
arrays only when that changed: another one, or the same one rewritten by an erasure (its record
then differs: counts and ``metrics``), here or on another replica.
"""

from __future__ import annotations

import threading
import time

from facegate.classifier import Classifier
from facegate.domain import ClassifierInfo
from facegate.errors import ClassifierNotFoundError
from facegate.services import erasure
from facegate.storage.base import GalleryStore

#: Seconds another replica's activation may take to reach this one.
RECHECK_S = 1.0


class ClassifierService:
    def __init__(self, store: GalleryStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._loaded: tuple[ClassifierInfo, Classifier] | None = None
        self._active: ClassifierInfo | None = None
        self._checked = -float("inf")

    def list(self) -> list[ClassifierInfo]:
        return self.store.list_classifiers()

    def get(self, classifier_id: str) -> ClassifierInfo:
        return self.store.get_classifier(classifier_id)

    def activate(self, classifier_id: str | None) -> ClassifierInfo | None:
        """Make ``classifier_id`` the one identify uses (None: none, plain nearest sample)."""
        self.store.activate_classifier(classifier_id)
        self._checked = -float("inf")
        return None if classifier_id is None else self.store.get_classifier(classifier_id)

    def delete(self, classifier_id: str) -> None:
        self.store.delete_classifier(classifier_id)
        self._checked = -float("inf")

    def changed(self) -> None:
        """A classifier's content changed here (an erasure): look again at the next call."""
        self._checked = -float("inf")

    def reconcile(self) -> int:
        """Take out of every stored classifier whoever is no longer in the gallery (a server
        does this at start: a deletion by an older facegate, a crash after a training)."""
        changed = erasure.reconcile(self.store)
        self.changed()
        return changed

    def current(self) -> tuple[ClassifierInfo, Classifier] | None:
        """The active classifier with its arrays, or None when none is active."""
        if time.monotonic() - self._checked >= RECHECK_S:
            self._active, self._checked = self.store.active_classifier(), time.monotonic()
        info = self._active
        if info is None:
            return None
        with self._lock:
            if self._loaded is None or self._loaded[0] != info:
                try:
                    blob = self.store.classifier_blob(info.id)
                except ClassifierNotFoundError:  # deleted by another replica just now
                    self._active = None
                    return None
                self._loaded = (info, Classifier.from_bytes(info.kind, info.params, blob))
            return self._loaded
