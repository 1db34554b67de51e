"""The ``GalleryStore`` contract every backend implements, and ``open_store(url)``.

Backends deal only in domain types and float32 arrays. Every write is atomic: it happens whole
or not at all, so a crash or kill mid-write never leaves a sample without its identity or half an
identity behind.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from facegate.domain import ClassifierInfo, Consent, Descriptor, FaceSample, Identity
from facegate.errors import ValidationError
from facegate.storage.access_records import AccessStore
from facegate.storage.audit import AuditLog
from facegate.storage.events import EventOutbox
from facegate.storage.feedback import FeedbackStore
from facegate.storage.identity_links import AuditErasure, ErasedFaces
from facegate.storage.review import ReviewQueue
from facegate.storage.state import SharedState


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


class GalleryStore(SharedState, AuditLog, AccessStore, EventOutbox, FeedbackStore, ReviewQueue,
                   Protocol):
    """Identities and their face samples, trained classifiers, the replicas' shared state, the
    audit log, the event outbox, the review queue, and the users, sessions and keys of
    ``AccessStore``.

    Errors: IdentityNotFoundError, FaceNotFoundError, ClassifierNotFoundError, ConflictError
    (external id or classifier id taken), DuplicateFaceError (same image SHA-256 already enrolled
    for that identity), StoreError.
    """

    def create_identity(
        self, *, name: str, external_id: str | None = None, metadata: dict[str, Any] | None = None,
        consent: Consent | None = None, expires_at: datetime | None = None,
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
        metadata: dict[str, Any] = UNSET, consent: Consent | None = UNSET,
        expires_at: datetime | None = UNSET,
    ) -> Identity: ...

    def delete_identity(self, identity_id: str, *,
                        rewrite: ClassifierRewrite | None = None,
                        audit: AuditErasure | None = None) -> ErasedFaces:
        """Delete the identity with its samples and chips, and every row of
        ``identity_links.IDENTITY_TABLES`` and outbox event naming them; returns the deleted
        face ids with the receipt's counts. ``rewrite`` is applied to every stored classifier
        in the same transaction, and the audit rows ``audit`` makes of the counts written."""
        ...

    def expired_identities(self, before: datetime, *, limit: int = 1000) -> list[str]:
        """Ids of the identities whose ``expires_at`` is before ``before``, soonest first."""
        ...

    def purgeable_events(self, *, before: float, sinks: Sequence[str]) -> int:
        """How many events ``purge_events`` would delete now."""
        ...

    def claim_retention(self, name: str, *, now: float, every_s: float) -> bool:
        """True for exactly one caller per ``every_s`` (over every replica): it runs now."""
        ...

    def retention_lock(self) -> AbstractContextManager[bool]:
        """Held (True) by one retention run at a time over every replica."""
        ...

    def after_erasure(self) -> None:
        """Make what an erasure deleted unrecoverable (PostgreSQL: VACUUM; see
        docs/governance.md)."""
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
    *, name: str, external_id: str | None, metadata: dict[str, Any] | None,
    consent: Consent | None = None, expires_at: datetime | None = None,
) -> Identity:
    """A fresh identity with a server-made id, validated fields and both times set to now."""
    now = utcnow()
    return Identity(id=new_id(), name=check_name(name),
                    external_id=check_external_id(external_id),
                    metadata=check_metadata(dict(metadata or {})), created_at=now, updated_at=now,
                    consent=check_consent(consent), expires_at=check_time(expires_at))


def updated_terms(current: Identity, *, consent: Consent | None,
                  expires_at: datetime | None) -> tuple[Consent | None, datetime | None]:
    """The consent and expiry an update leaves (UNSET: the current one), validated."""
    return (current.consent if consent is UNSET else check_consent(consent),
            current.expires_at if expires_at is UNSET else check_time(expires_at))


def check_consent(consent: Consent | None) -> Consent | None:
    if consent is None:
        return None
    purpose = check_text(consent.purpose, "a consent purpose").strip()
    if not purpose or len(purpose) > 500:
        raise ValidationError("a consent purpose must be 1 to 500 characters")
    if consent.reference is not None and len(check_text(consent.reference,
                                                        "a consent reference")) > 200:
        raise ValidationError("a consent reference must be at most 200 characters")
    return Consent(given_at=check_time(consent.given_at) or utcnow(), purpose=purpose,
                   reference=consent.reference)


def check_time(moment: datetime | None) -> datetime | None:
    """``moment`` in UTC, to the microsecond (a time without a zone is taken as UTC)."""
    if moment is None:
        return None
    try:
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError as exc:  # 9999-12-31T23:00-05:00 is past the calendar in UTC
        raise ValidationError("a time must fall within the years 1 to 9999 in UTC") from exc


def checked_update(
    *, name: str, external_id: str | None, metadata: dict[str, Any]
) -> tuple[str, str | None, dict[str, Any]]:
    """``update_identity``'s arguments validated like a new identity's (UNSET passes)."""
    return (name if name is UNSET else check_name(name),
            external_id if external_id is UNSET else check_external_id(external_id),
            metadata if metadata is UNSET else check_metadata(dict(metadata)))


def check_name(name: str) -> str:
    name = check_text(name, "an identity name").strip()
    if not name or len(name) > 200:
        raise ValidationError("an identity name must be 1 to 200 characters")
    return name


def check_external_id(external_id: str | None) -> str | None:
    if external_id is not None:
        check_text(external_id, "an external id")
        if len(external_id) > 200:
            raise ValidationError("an external id must be at most 200 characters")
    return external_id


#: Identity metadata: a JSON object nested at most this deep ({"a": {"b": 1}} is 2 deep) …
MAX_METADATA_DEPTH = 16
#: … and at most this large as UTF-8 JSON. Whatever is stored can be written back as JSON.
MAX_METADATA_BYTES = 64 * 1024


def check_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """``metadata`` if it is a JSON object that every backend stores and every response can
    write back: valid Unicode (no lone surrogates), finite numbers, at most
    ``MAX_METADATA_DEPTH`` deep and ``MAX_METADATA_BYTES`` long; else ValidationError."""
    _check_json_value(metadata, depth=1)
    size = len(json.dumps(metadata, ensure_ascii=False).encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise ValidationError(f"metadata is {size} bytes as JSON; the limit is "
                              f"{MAX_METADATA_BYTES}", details={"limit_bytes": MAX_METADATA_BYTES})
    return metadata


def _check_json_value(value: Any, *, depth: int) -> None:
    if isinstance(value, dict | list):
        if depth > MAX_METADATA_DEPTH:
            raise ValidationError(f"metadata is nested more than {MAX_METADATA_DEPTH} deep",
                                  details={"limit_depth": MAX_METADATA_DEPTH})
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ValidationError("metadata keys must be strings")
                check_text(key, "a metadata key")
                _check_json_value(item, depth=depth + 1)
        else:
            for item in value:
                _check_json_value(item, depth=depth + 1)
    elif isinstance(value, str):
        check_text(value, "a metadata value")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValidationError("metadata numbers must be finite (no NaN or Infinity)")
    elif value is not None and not isinstance(value, bool | int | float):
        raise ValidationError(f"metadata cannot hold a {type(value).__name__}")


def check_text(text: str, what: str) -> str:
    """``text`` if every backend can store it and every response write it back: valid Unicode
    (encodable as UTF-8: no lone surrogates, which JSON can carry as ``\\ud800``) without NUL
    characters (PostgreSQL's text and jsonb cannot hold them); else ValidationError."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(f"{what} is not valid Unicode (a lone surrogate at "
                              f"position {exc.start})") from exc
    if "\x00" in text:
        raise ValidationError(f"{what} contains a NUL character")
    return text
