"""Identities and their face samples, with the search index kept in step with every write."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import numpy as np

from facegate.config_governance import GovernanceSettings
from facegate.domain import (
    DESCRIPTOR_SIZE,
    Consent,
    Descriptor,
    Face,
    FaceSample,
    Identity,
    Timings,
)
from facegate.errors import ValidationError
from facegate.services import erasure
from facegate.services.classifiers import ClassifierService
from facegate.services.faces import FaceReader, MultipleFaces, chip_jpeg
from facegate.services.governance import Terms, check_update
from facegate.services.indexed_gallery import IndexedGallery as IndexedGallery  # re-exported
from facegate.storage.base import UNSET, new_id, utcnow
from facegate.storage.identity_links import AuditErasure, ErasedFaces

logger = logging.getLogger(__name__)
T = TypeVar("T")
#: The largest page offset (any real gallery's end lies far below; databases overflow at 2^63).
MAX_OFFSET = 2**31 - 1


@dataclass(frozen=True, slots=True)
class EnrolledFace:
    sample: FaceSample
    face: Face | None
    #: Other people whose faces are nearer this one than its own person's faces are (or, for a
    #: person's first face, within the match threshold): a likely mix-up, enrolled anyway.
    nearer: tuple[NearerPerson, ...] = ()


@dataclass(frozen=True, slots=True)
class NearerPerson:
    identity_id: str
    name: str
    distance: float


class GalleryService:
    def __init__(
        self, gallery: IndexedGallery, reader: FaceReader, *, multiple_faces: MultipleFaces,
        classifiers: ClassifierService | None = None, warn_within: float = 0.6,
        governance: GovernanceSettings | None = None,
    ) -> None:
        self.terms = Terms.of(governance)
        self._vacuum = governance is None or governance.vacuum_after_erasure
        self._gallery = gallery
        self.warn_within = warn_within
        self._store = gallery.store
        self._reader = reader
        self._multiple_faces = multiple_faces
        #: Told when an erasure rewrote the stored classifiers (identify reloads at once).
        self._classifiers = classifiers

    @property
    def indexed(self) -> IndexedGallery:
        """The search index this service writes through (``GET /v1/status`` reads its sync)."""
        return self._gallery

    # identities
    def create_identity(
        self, *, name: str, external_id: str | None = None, metadata: dict[str, Any] | None = None,
        consent: Consent | None = None, expires_at: datetime | None = None,
    ) -> Identity:
        identity = self._store.create_identity(name=name, external_id=external_id,
                                               metadata=metadata,
                                               **self.terms.for_new(consent, expires_at))
        logger.info("identity created: %s", identity.id)
        return identity

    def get_identity(self, identity_id: str) -> Identity:
        return self._store.get_identity(identity_id)

    def list_identities(
        self, *, name_contains: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[Identity], int]:
        if not 1 <= limit <= 1000 or not 0 <= offset <= MAX_OFFSET:
            raise ValidationError(f"limit must be 1-1000 and offset 0-{MAX_OFFSET}")
        return self._store.list_identities(name_contains=name_contains, limit=limit, offset=offset)

    def find_by_name(self, name: str) -> Identity | None:
        """The oldest identity with exactly this name, if any."""
        offset = 0
        while True:
            page, total = self._store.list_identities(name_contains=name, limit=1000,
                                                      offset=offset)
            found = next((i for i in page if i.name == name), None)
            offset += len(page)
            if found is not None or not page or offset >= total:
                return found

    def update_identity(
        self, identity_id: str, *, name: str = UNSET, external_id: str | None = UNSET,
        metadata: dict[str, Any] = UNSET, consent: Consent | None = UNSET,
        expires_at: datetime | None = UNSET,
    ) -> Identity:
        check_update(self.terms, consent)
        return self._store.update_identity(identity_id, name=name, external_id=external_id,
                                           metadata=metadata, consent=consent,
                                           expires_at=expires_at)

    def delete_identity(self, identity_id: str) -> int:
        return len(self.erase_identity(identity_id))

    def erase_identity(self, identity_id: str, *,
                       audit: AuditErasure | None = None) -> ErasedFaces:
        """Delete the person, everything linked to them (``identity_links``) and their classes in
        every classifier (``erasure``) in one transaction; then ``after_erasure``."""
        enrolled = [face.created_at for face in self._store.list_faces(identity_id)]
        erased = self._gallery.delete_identity(
            identity_id, rewrite=erasure.without_identity(identity_id, enrolled=enrolled),
            audit=audit)
        if self._classifiers is not None:
            self._classifiers.changed()
        if self._vacuum:
            self._store.after_erasure()
        logger.info("identity deleted: %s (%d faces)", identity_id, len(erased))
        return erased

    # faces
    def enroll_image(
        self, identity_id: str, data: bytes, *, multiple_faces: MultipleFaces | None = None,
        timings: Timings | None = None,
    ) -> EnrolledFace:
        """Add the photo's face to the identity (exactly one face unless ``largest``)."""
        self.terms.check_enrol(self._store.get_identity(identity_id))  # before the model work
        timings = timings if timings is not None else Timings()
        image, face = self._reader.one_face(
            data, timings, multiple_faces=multiple_faces or self._multiple_faces, enrol=True)
        sample = FaceSample(
            id=new_id(), identity_id=identity_id, descriptor=face.descriptor,
            chip_jpeg=chip_jpeg(face.chip), image_sha256=image.sha256,
            detection_score=face.detection.score, created_at=utcnow(),
            model=self._reader.model_name, box=face.detection.box,
        )
        nearer = self.nearer_people(identity_id, face.descriptor)
        self._add(sample)
        return EnrolledFace(sample=sample, face=face, nearer=nearer)

    def nearer_people(self, identity_id: str, descriptor: Descriptor) -> tuple[NearerPerson, ...]:
        """The (at most 3) other people nearer ``descriptor`` than ``identity_id``'s own faces,
        or, when it has none yet, within ``warn_within`` (the match threshold)."""
        hits = self._gallery.search(descriptor, k=5)
        own = min((h.distance for h in hits if h.identity_id == identity_id), default=None)
        limit = self.warn_within if own is None else min(own, self.warn_within)
        nearer = [h for h in hits if h.identity_id != identity_id and h.distance < limit][:3]
        return tuple(NearerPerson(h.identity_id, self._store.get_identity(h.identity_id).name,
                                  h.distance) for h in nearer)

    def enroll_new_identity(
        self, *, name: str, data: bytes, multiple_faces: MultipleFaces | None = None
    ) -> EnrolledFace:
        """Create a person together with the photo's face, in one transaction: a refused photo,
        a crash or a kill leaves no identity without a face (bulk enrolment, training)."""
        identity = self.terms.new(name=name)
        image, face = self._reader.one_face(
            data, Timings(), multiple_faces=multiple_faces or self._multiple_faces, enrol=True)
        sample = FaceSample(
            id=new_id(), identity_id=identity.id, descriptor=face.descriptor,
            chip_jpeg=chip_jpeg(face.chip), image_sha256=image.sha256,
            detection_score=face.detection.score, created_at=utcnow(),
            model=self._reader.model_name, box=face.detection.box,
        )
        self._gallery.add_identity(identity, [sample])
        logger.info("identity created: %s with face %s", identity.id, sample.id)
        return EnrolledFace(sample=sample, face=face)

    def enroll_descriptor(self, identity_id: str, descriptor: list[float]) -> EnrolledFace:
        """Add a client-computed descriptor (e.g. exported from /v1/embed) to the identity."""
        self.terms.check_enrol(self._store.get_identity(identity_id))
        vector = parse_descriptor(descriptor)
        sample = FaceSample(
            id=new_id(), identity_id=identity_id, descriptor=vector, chip_jpeg=b"",
            image_sha256=hashlib.sha256(vector.tobytes()).hexdigest(), detection_score=None,
            created_at=utcnow(), model=self._reader.model_name,
        )
        self._add(sample)
        return EnrolledFace(sample=sample, face=None)

    def _add(self, sample: FaceSample) -> None:
        self._gallery.add(sample)
        logger.info("face %s enrolled for identity %s", sample.id, sample.identity_id)

    def list_faces(self, identity_id: str) -> list[FaceSample]:
        return self._store.list_faces(identity_id)

    def get_face(self, identity_id: str, face_id: str) -> FaceSample:
        return self._store.get_face(identity_id, face_id)

    def delete_face(self, identity_id: str, face_id: str) -> None:
        """Delete one sample, and its descriptor from every kNN classifier (an SVM loses the
        person's row only with their last face), in the same transaction."""
        sample = self._store.get_face(identity_id, face_id)
        last = self._store.get_identity(identity_id).face_count <= 1
        self._gallery.delete_face(identity_id, face_id, rewrite=erasure.without_face(
            identity_id, sample.descriptor, enrolled=sample.created_at, last=last))
        if self._classifiers is not None:
            self._classifiers.changed()
        logger.info("face %s deleted from identity %s", face_id, identity_id)

    def counts(self) -> tuple[int, int]:
        return self._store.counts()


#: Largest magnitude accepted for one value of a client-sent descriptor (dlib's lie well inside
#: +-1): bounded so a stored or compared descriptor can never overflow to inf or NaN.
DESCRIPTOR_VALUE_LIMIT = 1000.0


def parse_descriptor(values: list[float] | Descriptor) -> Descriptor:
    """A client-sent descriptor as float32, or ValidationError."""
    vector = np.asarray(values, dtype=np.float64)
    if vector.shape != (DESCRIPTOR_SIZE,):
        raise ValidationError(f"a descriptor is a list of {DESCRIPTOR_SIZE} numbers "
                              f"(got shape {list(vector.shape)})")
    if not np.all(np.abs(vector) <= DESCRIPTOR_VALUE_LIMIT):  # also false for NaN
        raise ValidationError(
            f"descriptor values must be finite numbers within +-{DESCRIPTOR_VALUE_LIMIT:g}")
    return vector.astype(np.float32)
