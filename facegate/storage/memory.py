"""In-process gallery (``memory://``): for tests and throwaway servers; gone at exit."""

from __future__ import annotations

import dataclasses
import json
import threading
from datetime import datetime
from typing import Any

from facegate.domain import ClassifierInfo, Consent, Descriptor, FaceSample, Identity
from facegate.errors import (
    ClassifierNotFoundError,
    ConflictError,
    DuplicateFaceError,
    FaceNotFoundError,
    IdentityNotFoundError,
)
from facegate.storage.audit import MemoryAudit
from facegate.storage.base import (
    UNSET,
    Changes,
    ClassifierRewrite,
    checked_update,
    new_identity,
    updated_terms,
    utcnow,
)
from facegate.storage.feedback import MemoryFeedback
from facegate.storage.identity_links import AuditErasure, ErasedFaces
from facegate.storage.memory_access import MemoryAccess
from facegate.storage.memory_governance import MemoryRetention
from facegate.storage.memory_review import MemoryReview
from facegate.storage.memory_state import MemoryState


class MemoryStore(MemoryState, MemoryAudit, MemoryAccess, MemoryRetention, MemoryFeedback,
                  MemoryReview):
    def __init__(self) -> None:
        MemoryState.__init__(self)
        MemoryRetention.__init__(self)
        MemoryReview.__init__(self)
        MemoryFeedback.__init__(self)
        MemoryAudit.__init__(self)
        self._lock = threading.RLock()
        self._access_tables()
        self._identities: dict[str, Identity] = {}
        self._faces: dict[str, dict[str, FaceSample]] = {}
        self._classifiers: dict[str, tuple[ClassifierInfo, bytes]] = {}
        self._active: str | None = None

    def _counted(self, identity: Identity) -> Identity:
        return dataclasses.replace(identity, face_count=len(self._faces[identity.id]))

    def _check_external_id(self, external_id: str | None, *, owner: str | None) -> None:
        if external_id is None:
            return
        for other in self._identities.values():
            if other.external_id == external_id and other.id != owner:
                raise ConflictError(f"external id {external_id!r} belongs to another identity")

    def create_identity(
        self, *, name: str, external_id: str | None = None, metadata: dict[str, Any] | None = None,
        consent: Consent | None = None, expires_at: datetime | None = None,
    ) -> Identity:
        identity = new_identity(name=name, external_id=external_id, metadata=metadata,
                                consent=consent, expires_at=expires_at)
        self.restore(identity, [])
        return identity

    def get_identity(self, identity_id: str) -> Identity:
        with self._lock:
            identity = self._identities.get(identity_id)
            if identity is None:
                raise IdentityNotFoundError(f"no identity with id {identity_id!r}")
            return self._counted(identity)

    def get_identities(self, identity_ids: list[str]) -> dict[str, Identity]:
        with self._lock:
            return {i: self._counted(self._identities[i])
                    for i in identity_ids if i in self._identities}

    def list_identities(
        self, *, name_contains: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[Identity], int]:
        with self._lock:
            matching = [
                self._counted(i) for i in self._identities.values()
                if not name_contains or name_contains.lower() in i.name.lower()
            ]
        matching.sort(key=lambda i: (i.created_at, i.id))
        return matching[offset : offset + limit], len(matching)

    def update_identity(
        self, identity_id: str, *, name: str = UNSET, external_id: str | None = UNSET,
        metadata: dict[str, Any] = UNSET, consent: Consent | None = UNSET,
        expires_at: datetime | None = UNSET,
    ) -> Identity:
        name, external_id, metadata = checked_update(
            name=name, external_id=external_id, metadata=metadata)
        with self._lock:
            current = self.get_identity(identity_id)
            terms = updated_terms(current, consent=consent, expires_at=expires_at)
            changes: dict[str, Any] = {"updated_at": utcnow(), "consent": terms[0],
                                       "expires_at": terms[1]}
            if name is not UNSET:
                changes["name"] = name
            if external_id is not UNSET:
                self._check_external_id(external_id, owner=identity_id)
                changes["external_id"] = external_id
            if metadata is not UNSET:
                changes["metadata"] = dict(metadata)
            self._identities[identity_id] = dataclasses.replace(current, **changes)
            return self.get_identity(identity_id)

    def delete_identity(self, identity_id: str, *,
                        rewrite: ClassifierRewrite | None = None,
                        audit: AuditErasure | None = None) -> ErasedFaces:
        with self._lock:
            self.get_identity(identity_id)
            rewritten = self._rewritten(rewrite)  # a failing rewrite changes nothing
            del self._identities[identity_id]
            self._commit(rewritten)
            faces = self._faces.pop(identity_id)
            chips = sum(1 for face in faces.values() if face.chip_jpeg)
            counts = self._erase_links(identity_id, chips) | self.erase_feedback(identity_id)
            counts["review_items"] = self.erase_review(identity_id)  # SQL: identity_links
            erased = ErasedFaces(list(faces), counts)
            self.append_audit(audit(erased) if audit else [])
            return erased

    def add_face(self, sample: FaceSample) -> None:
        with self._lock:
            self.get_identity(sample.identity_id)
            self._put_face(sample)
            identity = self._identities[sample.identity_id]
            self._identities[sample.identity_id] = dataclasses.replace(
                identity, updated_at=utcnow())

    def _put_face(self, sample: FaceSample) -> None:
        faces = self._faces[sample.identity_id]
        if any(f.image_sha256 == sample.image_sha256 for f in faces.values()):
            raise DuplicateFaceError(
                "this image is already enrolled for this identity",
                details={"identity_id": sample.identity_id},
            )
        faces[sample.id] = dataclasses.replace(sample, descriptor=sample.descriptor.copy())

    def get_face(self, identity_id: str, face_id: str) -> FaceSample:
        with self._lock:
            self.get_identity(identity_id)
            sample = self._faces[identity_id].get(face_id)
            if sample is None:
                raise FaceNotFoundError(f"identity {identity_id!r} has no face {face_id!r}")
            return sample

    def list_faces(self, identity_id: str) -> list[FaceSample]:
        with self._lock:
            self.get_identity(identity_id)
            return sorted(self._faces[identity_id].values(), key=lambda f: (f.created_at, f.id))

    def delete_face(self, identity_id: str, face_id: str, *,
                    rewrite: ClassifierRewrite | None = None) -> None:
        with self._lock:
            self.get_face(identity_id, face_id)
            rewritten = self._rewritten(rewrite)
            del self._faces[identity_id][face_id]
            self._commit(rewritten)

    def descriptors(self) -> list[tuple[str, str, Descriptor]]:
        with self._lock:
            return [(f.id, f.identity_id, f.descriptor)
                    for faces in self._faces.values() for f in faces.values()]

    def restore(self, identity: Identity, samples: list[FaceSample]) -> None:
        with self._lock:
            self._check_external_id(identity.external_id, owner=None)
            if identity.id in self._identities:
                raise ConflictError(f"identity {identity.id!r} exists already")
            self._identities[identity.id] = dataclasses.replace(identity, face_count=0)
            self._faces[identity.id] = {}
            try:
                for sample in samples:
                    self._put_face(sample)
            except BaseException:
                del self._identities[identity.id], self._faces[identity.id]
                raise

    def _review_enrol(self, identity: Identity | None, identity_id: str | None,
                      samples: tuple[FaceSample, ...]) -> None:
        with self._lock:
            if identity is not None:
                return self.restore(identity, list(samples))
            self.get_identity(identity_id or "")
            shas = [f.image_sha256 for f in self._faces[identity_id or ""].values()]
            for sample in samples:
                if sample.image_sha256 in shas:
                    raise DuplicateFaceError("this image is already enrolled for this identity",
                                             details={"identity_id": identity_id})
                shas.append(sample.image_sha256)
            for sample in samples:
                self._put_face(sample)

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return len(self._identities), sum(len(f) for f in self._faces.values())

    def change_marker(self) -> int:
        return 0

    def changes_since(self, marker: int) -> Changes | None:
        return None  # no change log: the marker moving means a reload

    # trained classifiers
    def save_classifier(self, info: ClassifierInfo, blob: bytes) -> None:
        # through JSON like the SQL stores: the same copies, the same refusals
        stored = dataclasses.replace(info, params=json.loads(json.dumps(info.params)),
                                     metrics=json.loads(json.dumps(info.metrics)), active=False)
        with self._lock:
            if info.id in self._classifiers:
                raise ConflictError(f"a classifier with id {info.id!r} exists already")
            self._classifiers[info.id] = (stored, bytes(blob))

    def _stored(self, classifier_id: str) -> tuple[ClassifierInfo, bytes]:
        found = self._classifiers.get(classifier_id)
        if found is None:
            raise ClassifierNotFoundError(f"no classifier with id {classifier_id!r}")
        return found

    def _info(self, info: ClassifierInfo) -> ClassifierInfo:
        return dataclasses.replace(info, params=json.loads(json.dumps(info.params)),
                                   metrics=json.loads(json.dumps(info.metrics)),
                                   active=info.id == self._active)

    def list_classifiers(self) -> list[ClassifierInfo]:
        with self._lock:
            infos = [self._info(info) for info, _ in self._classifiers.values()]
        infos.sort(key=lambda i: i.id)
        infos.sort(key=lambda i: i.created_at, reverse=True)  # stable: ids stay ascending
        return infos

    def get_classifier(self, classifier_id: str) -> ClassifierInfo:
        with self._lock:
            return self._info(self._stored(classifier_id)[0])

    def classifier_blob(self, classifier_id: str) -> bytes:
        with self._lock:
            return self._stored(classifier_id)[1]

    def activate_classifier(self, classifier_id: str | None) -> None:
        with self._lock:
            if classifier_id is not None:
                self._stored(classifier_id)
            self._active = classifier_id

    def active_classifier(self) -> ClassifierInfo | None:
        with self._lock:
            return None if self._active is None else self.get_classifier(self._active)

    def delete_classifier(self, classifier_id: str) -> None:
        with self._lock:
            self._stored(classifier_id)
            del self._classifiers[classifier_id]
            if self._active == classifier_id:
                self._active = None

    def rewrite_classifiers(self, rewrite: ClassifierRewrite, *,
                            only: list[str] | None = None) -> int:
        with self._lock:
            rewritten = self._rewritten(rewrite, only=only)
            self._commit(rewritten)
            return len(rewritten)

    def _rewritten(self, rewrite: ClassifierRewrite | None, *, only: list[str] | None = None
                   ) -> dict[str, tuple[ClassifierInfo, bytes] | None]:
        """What ``rewrite`` makes of each classifier it changes (None: deleted), not applied."""
        out: dict[str, tuple[ClassifierInfo, bytes] | None] = {}
        for classifier_id in sorted(self._classifiers):
            if rewrite is None or (only is not None and classifier_id not in only):
                continue
            info, blob = self._classifiers[classifier_id]
            result = rewrite(self._info(info), blob)
            if result is None or result != (self._info(info), blob):
                out[classifier_id] = result
        return out

    def _commit(self, rewritten: dict[str, tuple[ClassifierInfo, bytes] | None]) -> None:
        for classifier_id, result in rewritten.items():
            if result is None:
                self.delete_classifier(classifier_id)
                continue
            old = self._classifiers[classifier_id][0]
            new = dataclasses.replace(
                old, params=json.loads(json.dumps(result[0].params)),
                metrics=json.loads(json.dumps(result[0].metrics)),
                identities=result[0].identities, samples=result[0].samples)
            self._classifiers[classifier_id] = (new, bytes(result[1]))

    def close(self) -> None:
        pass
