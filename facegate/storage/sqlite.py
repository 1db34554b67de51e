"""SQLite gallery: one file, WAL journal, every write in one ``BEGIN IMMEDIATE`` transaction.

Descriptors are stored as 512-byte little-endian float32 blobs, chips as JPEG blobs. Foreign keys
cascade, so deleting an identity removes its samples and chips in the same transaction. Erasure:
``secure_delete`` zeroes freed pages; each deletion ends in ``wal_checkpoint(TRUNCATE)``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from facegate.domain import Consent, Descriptor, FaceSample, Identity
from facegate.errors import (
    ConflictError,
    DuplicateFaceError,
    FaceNotFoundError,
    IdentityNotFoundError,
    StoreError,
)
from facegate.storage import identity_links as links
from facegate.storage import (
    sql_audit,
    sql_events,
    sql_feedback,
    sql_governance,
    sql_review,
    sql_state,
)
from facegate.storage.audit import text_time
from facegate.storage.base import (
    UNSET,
    Changes,
    checked_update,
    new_identity,
    updated_terms,
    utcnow,
)
from facegate.storage.sql_access import SQLITE_TABLES, SqlAccess
from facegate.storage.sql_classifiers import ClassifierRewrite
from facegate.storage.sqlite_rows import face_row, identity_row

logger = logging.getLogger(__name__)

#: 2 classifiers, 3 sql_state, 4 audit, 5 sql_access, 6 sql_events, 7 sql_governance (consent,
#: expires_at, retention_runs), feedback (kept probes, negative anchors), review (the queue).
SCHEMA_VERSION = 7
_SCHEMA = """
CREATE TABLE IF NOT EXISTS identities (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    external_id TEXT UNIQUE,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS identities_created ON identities (created_at, id);
CREATE TABLE IF NOT EXISTS faces (
    id TEXT PRIMARY KEY,
    identity_id TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    descriptor BLOB NOT NULL,
    model TEXT NOT NULL,
    chip_jpeg BLOB NOT NULL,
    image_sha256 TEXT NOT NULL,
    detection_score REAL,
    box TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (identity_id, image_sha256)
);
CREATE INDEX IF NOT EXISTS faces_identity ON faces (identity_id, created_at);
CREATE TABLE IF NOT EXISTS classifiers (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    params TEXT NOT NULL,
    metrics TEXT NOT NULL,
    created_at TEXT NOT NULL,
    identities INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    active INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
    blob BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS classifiers_one_active ON classifiers (active) WHERE active = 1;
""" + sql_state.SCHEMA + SQLITE_TABLES + sql_events.SQLITE_SCHEMA + sql_feedback.SQLITE_SCHEMA \
    + sql_review.SQLITE_SCHEMA
_IDENTITY_COLUMNS = (
    "i.id, i.name, i.external_id, i.metadata, i.created_at, i.updated_at, "
    "(SELECT COUNT(*) FROM faces f WHERE f.identity_id = i.id), i.consent, i.expires_at"
)
_FACE_COLUMNS = (
    "id, identity_id, descriptor, chip_jpeg, image_sha256, detection_score, created_at, model, box"
)


class SQLiteStore(sql_state.SqlState, sql_audit.SqliteAudit, SqlAccess, sql_events.SqlEvents,
                  sql_governance.SqlRetention, sql_governance.SqliteErasure,
                  sql_feedback.SqlFeedback, sql_review.SqlReview):
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the gallery at {self.path}: {exc}") from exc
        try:
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA secure_delete = ON")  # erased bytes are zeroed on disk
            self._db.create_function("py_lower", 1, str.lower, deterministic=True)
            self._migrate()
        except (sqlite3.DatabaseError, StoreError) as exc:
            self._db.close()
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"cannot open the gallery at {self.path}: {exc}") from exc

    def _migrate(self) -> None:
        with self._write() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the gallery schema is version {version}; this facegate knows "
                    f"{SCHEMA_VERSION}: upgrade facegate"
                )
            for statement in (_SCHEMA + sql_audit.SQLITE_SCHEMA).split(";"):
                if statement.strip():
                    db.execute(statement)
            sql_governance.add_sqlite_columns(db)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreError(f"the gallery is busy: {exc}") from exc
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"gallery read failed: {exc}") from exc

    # identities
    def create_identity(
        self, *, name: str, external_id: str | None = None, metadata: dict[str, Any] | None = None,
        consent: Consent | None = None, expires_at: datetime | None = None,
    ) -> Identity:
        identity = new_identity(name=name, external_id=external_id, metadata=metadata,
                                consent=consent, expires_at=expires_at)
        with self._write() as db:
            self._insert_identity(db, identity)
        return identity

    def _insert_identity(self, db: sqlite3.Connection, identity: Identity) -> None:
        try:
            db.execute(
                "INSERT INTO identities (id, name, external_id, metadata, created_at, updated_at, "
                "consent, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    identity.id, identity.name, identity.external_id,
                    json.dumps(identity.metadata), identity.created_at.isoformat(),
                    identity.updated_at.isoformat(), links.consent_json(identity.consent),
                    text_time(identity.expires_at) if identity.expires_at else None,
                ),
            )
        except sqlite3.IntegrityError as exc:
            taken = "external id" if "external_id" in str(exc) else "identity id"
            raise ConflictError(f"that {taken} belongs to another identity") from exc

    def get_identity(self, identity_id: str) -> Identity:
        rows = self._read(f"SELECT {_IDENTITY_COLUMNS} FROM identities i WHERE i.id = ?",
                          (identity_id,))
        if not rows:
            raise IdentityNotFoundError(f"no identity with id {identity_id!r}")
        return identity_row(rows[0])

    def get_identities(self, identity_ids: list[str]) -> dict[str, Identity]:
        if not identity_ids:
            return {}
        marks = ",".join("?" * len(identity_ids))
        rows = self._read(
            f"SELECT {_IDENTITY_COLUMNS} FROM identities i WHERE i.id IN ({marks})",
            tuple(identity_ids),
        )
        return {row[0]: identity_row(row) for row in rows}

    def list_identities(
        self, *, name_contains: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[Identity], int]:
        where = ""
        args: tuple[str, ...] = ()
        if name_contains:
            # A literal substring, folded by Python: SQLite's LIKE folds ASCII letters only.
            where, args = "WHERE instr(py_lower(i.name), ?) > 0", (name_contains.lower(),)
        total = self._read(f"SELECT COUNT(*) FROM identities i {where}", args)[0][0]
        rows = self._read(
            f"SELECT {_IDENTITY_COLUMNS} FROM identities i {where} "
            "ORDER BY i.created_at, i.id LIMIT ? OFFSET ?",
            (*args, limit, offset),
        )
        return [identity_row(row) for row in rows], int(total)

    def update_identity(
        self, identity_id: str, *, name: str = UNSET, external_id: str | None = UNSET,
        metadata: dict[str, Any] = UNSET, consent: Consent | None = UNSET,
        expires_at: datetime | None = UNSET,
    ) -> Identity:
        name, external_id, metadata = checked_update(
            name=name, external_id=external_id, metadata=metadata)
        with self._write() as db:
            current = self.get_identity(identity_id)
            terms = updated_terms(current, consent=consent, expires_at=expires_at)
            try:
                db.execute(
                    "UPDATE identities SET name = ?, external_id = ?, metadata = ?, "
                    "updated_at = ?, consent = ?, expires_at = ? WHERE id = ?",
                    (
                        current.name if name is UNSET else name,
                        current.external_id if external_id is UNSET else external_id,
                        json.dumps(current.metadata if metadata is UNSET else metadata),
                        utcnow().isoformat(), links.consent_json(terms[0]),
                        text_time(terms[1]) if terms[1] else None, identity_id,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise ConflictError(f"external id {external_id!r} belongs to another identity") \
                    from exc
        return self.get_identity(identity_id)

    def delete_identity(self, identity_id: str, *,
                        rewrite: ClassifierRewrite | None = None,
                        audit: links.AuditErasure | None = None) -> links.ErasedFaces:
        with self._write() as db:
            self.get_identity(identity_id)
            erased = links.ErasedFaces([r[0] for r in db.execute(
                "SELECT id FROM faces WHERE identity_id = ?", (identity_id,))],
                links.erase_links(db, identity_id, mark="?"))
            db.execute("DELETE FROM identities WHERE id = ?", (identity_id,))
            self._rewrite_in(db, rewrite)
            self._insert_audit(db, audit(erased) if audit else [])
        self._checkpoint()
        return erased

    # faces
    def add_face(self, sample: FaceSample) -> None:
        with self._write() as db:
            self.get_identity(sample.identity_id)
            self._insert_face(db, sample)
            db.execute("UPDATE identities SET updated_at = ? WHERE id = ?",
                       (utcnow().isoformat(), sample.identity_id))

    def _insert_face(self, db: sqlite3.Connection, sample: FaceSample) -> None:
        try:
            db.execute(
                f"INSERT INTO faces ({_FACE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    sample.id, sample.identity_id,
                    np.asarray(sample.descriptor, dtype="<f4").tobytes(), sample.chip_jpeg,
                    sample.image_sha256, sample.detection_score, sample.created_at.isoformat(),
                    sample.model, json.dumps(sample.box.as_dict()) if sample.box else None,
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise DuplicateFaceError(
                "this image is already enrolled for this identity",
                details={"identity_id": sample.identity_id},
            ) from exc

    def get_face(self, identity_id: str, face_id: str) -> FaceSample:
        self.get_identity(identity_id)
        rows = self._read(f"SELECT {_FACE_COLUMNS} FROM faces WHERE id = ? AND identity_id = ?",
                          (face_id, identity_id))
        if not rows:
            raise FaceNotFoundError(f"identity {identity_id!r} has no face {face_id!r}")
        return face_row(rows[0])

    def list_faces(self, identity_id: str) -> list[FaceSample]:
        self.get_identity(identity_id)
        rows = self._read(
            f"SELECT {_FACE_COLUMNS} FROM faces WHERE identity_id = ? ORDER BY created_at, id",
            (identity_id,),
        )
        return [face_row(row) for row in rows]

    def delete_face(self, identity_id: str, face_id: str, *,
                    rewrite: ClassifierRewrite | None = None) -> None:
        with self._write() as db:
            self.get_face(identity_id, face_id)
            db.execute("DELETE FROM faces WHERE id = ?", (face_id,))
            db.execute("UPDATE identities SET updated_at = ? WHERE id = ?",
                       (utcnow().isoformat(), identity_id))
            self._rewrite_in(db, rewrite)
        self._checkpoint()

    def descriptors(self) -> list[tuple[str, str, Descriptor]]:
        rows = self._read("SELECT id, identity_id, descriptor FROM faces ORDER BY rowid")
        return [(r[0], r[1], np.frombuffer(r[2], dtype="<f4").astype(np.float32)) for r in rows]

    def restore(self, identity: Identity, samples: list[FaceSample]) -> None:
        with self._write() as db:
            self._insert_identity(db, identity)
            for sample in samples:
                self._insert_face(db, sample)

    def counts(self) -> tuple[int, int]:
        identities = self._read("SELECT COUNT(*) FROM identities")[0][0]
        faces = self._read("SELECT COUNT(*) FROM faces")[0][0]
        return int(identities), int(faces)

    def change_marker(self) -> int:
        return int(self._read("PRAGMA data_version")[0][0])

    def changes_since(self, marker: int) -> Changes | None:
        return None  # no change log: the marker moving means a reload

    def close(self) -> None:
        with self._lock:
            self._db.close()

