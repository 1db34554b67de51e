"""The ``GalleryStore`` contract every backend implements, and ``open_store(url)``.

Backends deal only in domain types and float32 arrays. Every write is atomic: it happens whole
or not at all, so a crash or kill mid-write never leaves a sample without its identity or half an
identity behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from facegate.domain import ClassifierInfo, Descriptor, FaceSample, Identity
from facegate.errors import ValidationError


class _Unset:
    """Marks an update argument the caller left alone (None is a real value: 'clear it')."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()

#: Rewrites one stored classifier while people or faces are erased, inside the store's write
#: transaction: given its record and blob, the record and blob to keep (the very same ones: left
#: untouched) or None: delete the classifier. Only ``params``, ``metrics``, ``identities``,
#: ``samples`` and the blob of a kept record are written back (the id, kind, time and the
#: active flag stay).
ClassifierRewrite = Callable[[ClassifierInfo, bytes], tuple[ClassifierInfo, bytes] | None]


@dataclass(frozen=True, slots=True)
class Changes:
    """What happened to the descriptors between two change markers, as the current state of
    every face sample that changed: ``upserts`` still exist (``(face_id, identity_id,
    descriptor)``), ``removed`` face ids do not. Applying it to an index that was in step at the
    old marker (or has some of the later writes already) brings it in step at ``marker``."""

    marker: int
    upserts: list[tuple[str, str, Descriptor]]
    removed: list[str]


class GalleryStore(Protocol):
    """Identities and their face samples.

    Errors: IdentityNotFoundError, FaceNotFoundError, ClassifierNotFoundError, ConflictError
    (external id or classifier id taken), DuplicateFaceError (same image SHA-256 already enrolled
    for that identity), StoreError.
    """

    def create_identity(
        self, *, name: str, external_id: str | None = None, metadata: dict[str, Any] | None = None
    ) -> Identity: ...

    def get_identity(self, identity_id: str) -> Identity: ...

    def get_identities(self, identity_ids: list[str]) -> dict[str, Identity]:
        """The identities that exist among ``identity_ids``, by id (missing ones left out)."""
        ...

    def list_identities(
        self, *, name_contains: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[Identity], int]:
        """One page, oldest first, and the total count that matches the filter."""
        ...

    def update_identity(
        self, identity_id: str, *, name: str = UNSET, external_id: str | None = UNSET,
        metadata: dict[str, Any] = UNSET,
    ) -> Identity: ...

    def delete_identity(self, identity_id: str, *,
                        rewrite: ClassifierRewrite | None = None) -> list[str]:
        """Delete the identity with its samples and chips; returns the deleted face ids.
        ``rewrite`` is applied to every stored classifier in the same transaction."""
        ...

    def add_face(self, sample: FaceSample) -> None: ...

    def get_face(self, identity_id: str, face_id: str) -> FaceSample: ...

    def list_faces(self, identity_id: str) -> list[FaceSample]: ...

    def delete_face(self, identity_id: str, face_id: str, *,
                    rewrite: ClassifierRewrite | None = None) -> None:
        """Delete one sample; ``rewrite`` as in ``delete_identity``, in the same transaction."""
        ...

    def descriptors(self) -> list[tuple[str, str, Descriptor]]:
        """Every ``(face_id, identity_id, descriptor)``: what the search index loads."""
        ...

    def restore(self, identity: Identity, samples: list[FaceSample]) -> None:
        """Insert an identity with its samples exactly as given (ids, times): import/migrate."""
        ...

    def counts(self) -> tuple[int, int]:
        """``(identities, face samples)``."""
        ...

    def change_marker(self) -> int:
        """A number that changes when *another* process or replica has changed descriptors
        (it may also move for this store's own writes)."""
        ...

    def changes_since(self, marker: int) -> Changes | None:
        """The descriptor changes since ``marker``, or None when the store cannot tell (no change
        log, or the log no longer reaches back that far): then reload ``descriptors()``."""
        ...

    # trained classifiers: their params and metrics are JSON objects, the fitted arrays a blob
    def save_classifier(self, info: ClassifierInfo, blob: bytes) -> None:
        """Insert a classifier with its blob, inactive whatever ``info.active`` says."""
        ...

    def list_classifiers(self) -> list[ClassifierInfo]:
        """Every classifier without its blob, newest first (``created_at`` desc, then id)."""
        ...

    def get_classifier(self, classifier_id: str) -> ClassifierInfo: ...

    def classifier_blob(self, classifier_id: str) -> bytes: ...

    def activate_classifier(self, classifier_id: str | None) -> None:
        """Make that classifier the only active one (None: none active), in one transaction;
        an unknown id raises ClassifierNotFoundError and changes nothing."""
        ...

    def active_classifier(self) -> ClassifierInfo | None:
        """The active classifier, if any (cheap: read on every identification)."""
        ...

    def delete_classifier(self, classifier_id: str) -> None:
        """Delete it with its blob; deleting the active one leaves none active."""
        ...

    def rewrite_classifiers(self, rewrite: ClassifierRewrite, *,
                            only: list[str] | None = None) -> int:
        """Apply ``rewrite`` to every stored classifier (or those of ``only``) in one
        transaction; returns how many were changed or deleted."""
        ...

    def close(self) -> None: ...


def open_store(url: str) -> GalleryStore:
    """``sqlite:///relative/or//absolute/path.db``, ``postgresql://…`` (or ``postgres://…``, any
    libpq URL) or ``memory://``."""
    if url.startswith("sqlite:///"):
        from facegate.storage.sqlite import SQLiteStore

        return SQLiteStore(url.removeprefix("sqlite:///"))
    if url.startswith("memory://"):
        from facegate.storage.memory import MemoryStore

        return MemoryStore()
    if url.startswith(("postgresql://", "postgres://")):
        from facegate.storage.postgres import PostgresStore

        return PostgresStore(url)
    raise ValidationError(
        f"unsupported storage URL {url.split(':', 1)[0]!r}: use sqlite:///PATH, "
        "postgresql://USER@HOST/DB or memory://"
    )


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_identity(
    *, name: str, external_id: str | None, metadata: dict[str, Any] | None
) -> Identity:
    """A fresh identity with a server-made id, validated name and both times set to now."""
    now = utcnow()
    return Identity(id=new_id(), name=check_name(name), external_id=external_id,
                    metadata=dict(metadata or {}), created_at=now, updated_at=now)


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationError("an identity name must be 1 to 200 characters")
    return name
