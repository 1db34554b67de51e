"""Descriptors of many image files through facegate's own pipeline, cached per image.

Each image is read the way enrolment and verification read a photo: its clearly visible faces,
largest first, and the largest one's descriptor (``None`` when no face is found or the file is
not a usable image). Results are cached in a SQLite file keyed by the file's SHA-256 and a
fingerprint of every setting that changes a descriptor, so a second run, or a run with other
matching options, costs no model time. The cache holds descriptors: biometric data, kept in the
data folder (or the given cache folder) like the gallery itself.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from facegate.config import Settings
from facegate.domain import DESCRIPTOR_MODEL, DESCRIPTOR_SIZE
from facegate.errors import FacegateError

logger = logging.getLogger(__name__)

#: Bumped whenever pipeline code (not only settings) changes the descriptors.
CACHE_VERSION = 2
Descriptors = dict[Path, NDArray[np.float32] | None]
#: A descriptor as the server computes it for a probe (verify, identify) or to enrol a photo.
Purpose = Literal["probe", "enrol"]
Progress = Callable[[int], None]


def fingerprint(settings: Settings, purpose: Purpose = "probe") -> str:
    """A short hash of every setting that changes which face is found or its descriptor."""
    relevant: dict[str, object] = {
        "version": CACHE_VERSION,
        "purpose": purpose,
        "model": DESCRIPTOR_MODEL,
        "detection": settings.detection.model_dump(mode="json"),
        "embedder": settings.runtime.embedder,
        "max_pixels": settings.image.max_pixels,
    }
    alignment, views = settings.alignment, settings.augmentation
    chosen = ([alignment.landmarks, views.flip, views.jitter] if purpose == "enrol"
              else [alignment.probe_landmarks, views.probe_flip, views.probe_jitter])
    relevant["views"] = chosen
    if chosen[0] != "5":  # the second chip: which model located it (the mesh's fit changed)
        relevant["landmarks68"] = ("mesh-fit-468" if settings.models.landmarks68 == "mesh"
                                   else settings.models.landmarks68)
    text = json.dumps(relevant, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def default_cache_dir(settings: Settings) -> Path:
    return settings.data_dir / "cache"


class DescriptorCache:
    """``(settings fingerprint, image SHA-256) → descriptor or no face`` in one SQLite file."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(folder / "descriptors.sqlite3")
        self._db.execute("CREATE TABLE IF NOT EXISTS descriptors (fingerprint TEXT, sha256 TEXT,"
                         " descriptor BLOB, PRIMARY KEY (fingerprint, sha256))")

    def get(self, key: str, digests: Iterable[str]) -> dict[str, NDArray[np.float32] | None]:
        found: dict[str, NDArray[np.float32] | None] = {}
        for digest in digests:
            row = self._db.execute("SELECT descriptor FROM descriptors WHERE fingerprint = ? "
                                   "AND sha256 = ?", (key, digest)).fetchone()
            if row is not None:
                found[digest] = None if row[0] is None else \
                    np.frombuffer(row[0], dtype=np.float32).copy()
        return found

    def put(self, key: str, digest: str, descriptor: NDArray[np.float32] | None) -> None:
        blob = None if descriptor is None else descriptor.astype(np.float32).tobytes()
        self._db.execute("INSERT OR REPLACE INTO descriptors VALUES (?, ?, ?)",
                         (key, digest, blob))

    def commit(self) -> None:
        self._db.commit()

    def close(self) -> None:
        self._db.commit()
        self._db.close()


def describe(
    paths: Iterable[Path], settings: Settings, *, cache_dir: Path | None = None,
    workers: int = 1, progress: Progress | None = None, purpose: Purpose = "probe",
) -> Descriptors:
    """Each image's main-face descriptor (``None``: no face or not an image), cached; as the
    server computes it for a probe (verify, identify) or to ``enrol`` into the gallery."""
    digests = {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(set(paths))}
    key = fingerprint(settings, purpose)
    cache = DescriptorCache(cache_dir or default_cache_dir(settings))
    try:
        known = cache.get(key, set(digests.values()))
        result: Descriptors = {p: known[d] for p, d in digests.items() if d in known}
        if progress is not None:
            progress(len(result))
        todo = [p for p in digests if p not in result]
        logger.info("%d images: %d cached, %d to describe", len(digests), len(result), len(todo))
        computed = _compute(todo, settings, workers, purpose)
        for done, (path, descriptor) in enumerate(computed, start=1):
            result[path] = descriptor
            cache.put(key, digests[path], descriptor)
            if done % 256 == 0:
                cache.commit()
            if progress is not None:
                progress(1)
    finally:
        cache.close()
    return result


def _compute(paths: list[Path], settings: Settings, workers: int, purpose: Purpose) \
        -> Iterator[tuple[Path, NDArray[np.float32] | None]]:
    if not paths:
        return
    if workers <= 1 or len(paths) < 8:
        _start_worker(settings, purpose)
        yield from map(_describe_one, paths)
        return
    # spawn, not fork: the caller may hold threads and locks a fork would copy.
    with ProcessPoolExecutor(max_workers=workers, initializer=_start_worker,
                             initargs=(settings, purpose),
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        yield from pool.map(_describe_one, paths, chunksize=16)


_WORKER: dict[str, Any] = {}


def _start_worker(settings: Settings, purpose: Purpose) -> None:
    from facegate.bootstrap import face_reader

    _WORKER["reader"] = face_reader(settings)
    _WORKER["mode"] = "enrol" if purpose == "enrol" else "clear"


def _describe_one(path: Path) -> tuple[Path, NDArray[np.float32] | None]:
    try:
        faces = _WORKER["reader"].read_here(path.read_bytes(), _WORKER["mode"]).faces
    except (FacegateError, OSError) as exc:
        logger.warning("%s: %s", path.name, exc)
        return path, None
    if not faces:
        return path, None
    descriptor: NDArray[np.float32] = faces[0].descriptor
    if descriptor.shape != (DESCRIPTOR_SIZE,):
        return path, None
    return path, descriptor
