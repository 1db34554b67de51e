"""What ``GET /v1/status`` reports: version, uptime, storage backend (never a password), the
gallery's counts, the index's sync with the store, the classifier and the threshold (the
models and ONNX Runtime's providers come from ``runtime/models.py``)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from facegate import __version__
from facegate.config import Settings
from facegate.services.gallery import IndexedGallery

BACKENDS = {"sqlite": "sqlite", "postgresql": "postgres", "postgres": "postgres",
            "memory": "memory"}


def storage_view(url: str) -> dict[str, Any]:
    """The backend and where it is, without user password or query (which may hold one)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    user = parts.netloc.rpartition("@")[0].partition(":")[0] if "@" in parts.netloc else ""
    netloc = f"{user}@{host}" if user else host
    location = url.partition("?")[0] if not parts.netloc else urlunsplit(
        (parts.scheme, netloc, parts.path, "", ""))  # sqlite:///path keeps its three slashes
    return {"backend": BACKENDS.get(parts.scheme.split("+")[0], parts.scheme),
            "location": location}


def status(settings: Settings, gallery: IndexedGallery, *, started_at: float) -> dict[str, Any]:
    """All but the models (``bootstrap.model_report``) and the worker queue (the API's
    ``ModelRunner``); reads the store."""
    store = gallery.store
    identities, faces = store.counts()
    active = store.active_classifier()
    store_marker = store.change_marker()
    hnsw = gallery.method.name == "hnsw"
    return {
        "version": __version__, "uptime_s": round(time.time() - started_at, 1),
        "started_at": started_at, "storage": storage_view(settings.storage_url),
        "gallery": {"identities": identities, "faces": faces},
        "index": {"search": gallery.method.name, "store_marker": store_marker,
                  "index_marker": gallery.index_marker,
                  "in_sync": hnsw or gallery.index_marker == store_marker},
        "matching": {"threshold": settings.matching.threshold,
                     "threshold_source": settings.threshold_source,
                     "classifier_setting": settings.matching.classifier,
                     "active_classifier": None if active is None else {
                         "id": active.id, "kind": active.kind}},
    }
