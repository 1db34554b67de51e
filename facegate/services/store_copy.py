"""Copy a whole gallery from one store to another (``facegate migrate-store``), verified.

Each identity is written with its samples by ``GalleryStore.restore`` (ids and times kept, one
transaction each), so the copy answers every probe exactly as the source did. Afterwards both
sides are read back in full and compared by counts and a SHA-256 over every identity and sample:
ids, names, metadata, times, descriptor bytes (little-endian float32) and chip bytes, and every
trained classifier (its record, whether it is active, and its fitted arrays).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from facegate.domain import FaceSample, Identity
from facegate.errors import StoreError, ValidationError
from facegate.storage.base import GalleryStore

logger = logging.getLogger(__name__)
PAGE = 500


@dataclass(frozen=True, slots=True)
class GalleryDigest:
    identities: int
    faces: int
    sha256: str
    classifiers: int = 0


@dataclass(frozen=True, slots=True)
class CopyReport:
    source: GalleryDigest
    target: GalleryDigest


def identities_of(store: GalleryStore) -> Iterator[Identity]:
    """Every identity, oldest first, page by page."""
    offset = 0
    while True:
        page, _ = store.list_identities(limit=PAGE, offset=offset)
        yield from page
        if len(page) < PAGE:
            return
        offset += len(page)


def _identity_bytes(identity: Identity) -> bytes:
    return json.dumps([identity.id, identity.name, identity.external_id, identity.metadata,
                       identity.created_at.isoformat(), identity.updated_at.isoformat()],
                      sort_keys=True).encode()


def _sample_bytes(sample: FaceSample) -> bytes:
    box = sample.box.as_dict() if sample.box else None
    head = json.dumps([sample.id, sample.identity_id, sample.image_sha256, sample.model,
                       sample.detection_score, box, sample.created_at.isoformat()],
                      sort_keys=True).encode()
    return head + np.asarray(sample.descriptor, dtype="<f4").tobytes() + sample.chip_jpeg


def gallery_digest(store: GalleryStore) -> GalleryDigest:
    """Counts and a SHA-256 that depends only on the gallery's content, not on store order."""
    per_identity: dict[str, bytes] = {}
    faces = 0
    for identity in identities_of(store):
        digest = hashlib.sha256(_identity_bytes(identity))
        samples = sorted(store.list_faces(identity.id), key=lambda s: s.id)
        for sample in samples:
            digest.update(hashlib.sha256(_sample_bytes(sample)).digest())
        per_identity[identity.id] = digest.digest()
        faces += len(samples)
    total = hashlib.sha256()
    for identity_id in sorted(per_identity):
        total.update(per_identity[identity_id])
    classifiers = sorted(store.list_classifiers(), key=lambda c: c.id)
    for info in classifiers:  # a gallery without classifiers keeps its earlier checksum
        head = json.dumps([info.id, info.kind, info.params, info.metrics,
                           info.created_at.isoformat(), info.identities, info.samples,
                           info.active], sort_keys=True).encode()
        total.update(hashlib.sha256(head + store.classifier_blob(info.id)).digest())
    return GalleryDigest(identities=len(per_identity), faces=faces, sha256=total.hexdigest(),
                         classifiers=len(classifiers))


def copy_gallery(source: GalleryStore, target: GalleryStore) -> CopyReport:
    """Copy every identity and sample of ``source`` into the empty ``target``, then verify.

    Raises ValidationError when the target is not empty, StoreError when the copy does not
    match the source (counts or checksum).
    """
    if target.counts() != (0, 0):
        raise ValidationError("the target gallery is not empty: migrate into an empty one")
    for identity in identities_of(source):
        target.restore(identity, source.list_faces(identity.id))
    for info in source.list_classifiers():
        target.save_classifier(info, source.classifier_blob(info.id))
        if info.active:
            target.activate_classifier(info.id)
    report = CopyReport(source=gallery_digest(source), target=gallery_digest(target))
    if report.source != report.target:
        raise StoreError(f"the copy does not match its source: {report.source} vs "
                         f"{report.target}")
    logger.info("gallery copied: %d identities, %d faces, sha256 %s", report.target.identities,
                report.target.faces, report.target.sha256)
    return report
