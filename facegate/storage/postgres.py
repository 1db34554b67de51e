"""PostgreSQL + pgvector gallery: the shared store behind any number of facegate replicas.

Schema and migrations: ``pg_schema.py`` (applied at open, under an advisory lock). Connections
come from a small pool (the store is called from several threads); every write is one
transaction. Descriptors go in as pgvector text with enough digits to round-trip float32 exactly
and come back in pgvector's binary form (big-endian float4), so they are bit-exact.

``change_marker()`` is the change-log version (see ``pg_schema``); ``changes_since()`` gives a
replica the face samples added or removed since its marker, so it updates its index instead of
reloading the gallery. The URL's password never appears in logs or errors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from facegate.domain import Box, Consent, Descriptor, FaceSample, Identity
from facegate.errors import (
    ConflictError,
    DuplicateFaceError,
    FaceNotFoundError,
    IdentityNotFoundError,
    StoreError,
)
from facegate.storage import identity_links as links
from facegate.storage import pg_schema
from facegate.storage.base import (
    UNSET,
    Changes,
    checked_update,
    new_identity,
    updated_terms,
    utcnow,
)
from facegate.storage.pg_wire import redact_url, vector_text, vectors
from facegate.storage.sql_access import SqlAccess
from facegate.storage.sql_audit import SqlAudit
from facegate.storage.sql_classifiers import ClassifierRewrite
from facegate.storage.sql_events import SqlEvents
from facegate.storage.sql_feedback import SqlFeedback
from facegate.storage.sql_governance import SqlRetention
from facegate.storage.sql_review import SqlReview
from facegate.storage.sql_state import SqlState

logger = logging.getLogger(__name__)
Conn = psycopg.Connection[tuple[Any, ...]]

#: Change-log versions kept; a replica further behind than this reloads the whole index.
CHANGE_LOG_VERSIONS = 10_000
#: Old change-log entries are pruned on every this many versions.
PRUNE_EVERY = 100
#: A delta touching more face samples than this is replaced by a full reload.
MAX_DELTA_FACES = 50_000

_IDENTITY_COLUMNS = (
    "i.id, i.name, i.external_id, i.metadata, i.created_at, i.updated_at, "
    "(SELECT COUNT(*) FROM faces f WHERE f.identity_id = i.id), i.consent, i.expires_at"
)
_FACE_COLUMNS = (
    "id, identity_id, descriptor, chip_jpeg, image_sha256, detection_score, created_at, model, box"
)


def migrate_database(url: str) -> tuple[list[int], int]:
    """Apply pending migrations; ``(versions applied now, schema version)``."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=15) as conn:
            applied = pg_schema.migrate(conn)
            return applied, pg_schema.schema_version(conn)
    except psycopg.Error as exc:
        raise StoreError(f"cannot migrate the gallery at {redact_url(url)}: {exc}") from exc


class PostgresStore(SqlState, SqlAudit, SqlAccess, SqlEvents, SqlRetention, SqlFeedback,
                    SqlReview):
    _MARK, _TEXT_TIMES, _LOCK_ROWS, _PG = "%s", False, " FOR UPDATE", True
    _LOCK_JOBS = "LOCK TABLE training_jobs IN EXCLUSIVE MODE"  # one job start at a time

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.safe_url = redact_url(url)
        migrate_database(url)
        self._pool: ConnectionPool[Conn] = ConnectionPool(
            url, min_size=1, max_size=pool_size, open=True, name="facegate",
            kwargs={"autocommit": True, "options": "-c TimeZone=UTC"},
        )
        logger.info("gallery opened at %s", self.safe_url)

    @contextmanager
    def _conn(self) -> Iterator[Conn]:
        try:
            with self._pool.connection(timeout=30) as conn:
                yield conn
        except psycopg.Error as exc:
            raise StoreError(f"gallery database error: {type(exc).__name__}: {exc}") from exc

    @contextmanager
    def _write(self) -> Iterator[Conn]:
        with self._conn() as conn, conn.transaction():
            yield conn

    def _read(self, sql: Any, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._conn() as conn, conn.cursor(binary=True) as cur:
            return cur.execute(sql, args).fetchall()

    # identities
    def create_identity(
        self, *, name: str, external_id: str | None = None, metadata: dict[str, Any] | None = None,
        consent: Consent | None = None, expires_at: datetime | None = None,
    ) -> Identity:
        identity = new_identity(name=name, external_id=external_id, metadata=metadata,
                                consent=consent, expires_at=expires_at)
        with self._write() as conn:
            _insert_identity(conn, identity)
        return identity

    def get_identity(self, identity_id: str) -> Identity:
        rows = self._read(f"SELECT {_IDENTITY_COLUMNS} FROM identities i WHERE i.id = %s",
                          (identity_id,))
        if not rows:
            raise IdentityNotFoundError(f"no identity with id {identity_id!r}")
        return _identity(rows[0])

    def get_identities(self, identity_ids: list[str]) -> dict[str, Identity]:
        if not identity_ids:
            return {}
        rows = self._read(f"SELECT {_IDENTITY_COLUMNS} FROM identities i WHERE i.id = ANY(%s)",
                          (identity_ids,))
        return {row[0]: _identity(row) for row in rows}

    def list_identities(
        self, *, name_contains: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[Identity], int]:
        where = ""
        args: tuple[str, ...] = ()
        if name_contains:  # a literal substring of the name folded by Python, as in SQLite
            where, args = "WHERE strpos(i.name_folded, %s) > 0", (name_contains.lower(),)
        total = self._read(f"SELECT COUNT(*) FROM identities i {where}", args)[0][0]
        rows = self._read(f"SELECT {_IDENTITY_COLUMNS} FROM identities i {where} "
                          "ORDER BY i.created_at, i.id LIMIT %s OFFSET %s", (*args, limit, offset))
        return [_identity(row) for row in rows], int(total)

    def update_identity(
        self, identity_id: str, *, name: str = UNSET, external_id: str | None = UNSET,
        metadata: dict[str, Any] = UNSET, consent: Consent | None = UNSET,
        expires_at: datetime | None = UNSET,
    ) -> Identity:
        name, external_id, metadata = checked_update(
            name=name, external_id=external_id, metadata=metadata)
        with self._write() as conn:
            row = conn.execute(f"SELECT {_IDENTITY_COLUMNS} FROM identities i WHERE i.id = %s "
                               "FOR UPDATE", (identity_id,)).fetchone()
            if row is None:
                raise IdentityNotFoundError(f"no identity with id {identity_id!r}")
            current = _identity(row)
            new_name, terms = current.name if name is UNSET else name, updated_terms(
                current, consent=consent, expires_at=expires_at)
            try:
                conn.execute(
                    "UPDATE identities SET name = %s, name_folded = %s, external_id = %s, metadata "
                    "= %s, updated_at = %s, consent = %s::jsonb, expires_at = %s WHERE id = %s",
                    (new_name, new_name.lower(),
                     current.external_id if external_id is UNSET else external_id,
                     Jsonb(current.metadata if metadata is UNSET else metadata), utcnow(),
                     links.consent_json(terms[0]), terms[1], identity_id))
            except psycopg.errors.UniqueViolation as exc:
                raise ConflictError(f"external id {external_id!r} belongs to another identity") \
                    from exc
        return self.get_identity(identity_id)

    def delete_identity(self, identity_id: str, *,
                        rewrite: ClassifierRewrite | None = None,
                        audit: links.AuditErasure | None = None) -> links.ErasedFaces:
        with self._write() as conn:
            if conn.execute("SELECT id FROM identities WHERE id = %s FOR UPDATE",
                            (identity_id,)).fetchone() is None:
                raise IdentityNotFoundError(f"no identity with id {identity_id!r}")
            counts = links.erase_links(conn, identity_id, mark="%s")
            face_ids = [r[0] for r in conn.execute(
                "DELETE FROM faces WHERE identity_id = %s RETURNING id", (identity_id,))]
            conn.execute("DELETE FROM identities WHERE id = %s", (identity_id,))
            self._rewrite_in(conn, rewrite)
            _log_changes(conn, face_ids)
            erased = links.ErasedFaces(face_ids, counts)
            self._insert_audit(conn, audit(erased) if audit else [])
        return erased

    # faces
    def add_face(self, sample: FaceSample) -> None:
        with self._write() as conn:
            if conn.execute("UPDATE identities SET updated_at = %s WHERE id = %s RETURNING id",
                            (utcnow(), sample.identity_id)).fetchone() is None:
                raise IdentityNotFoundError(f"no identity with id {sample.identity_id!r}")
            _insert_face(conn, sample)
            _log_changes(conn, [sample.id])

    def get_face(self, identity_id: str, face_id: str) -> FaceSample:
        self.get_identity(identity_id)
        rows = self._read(f"SELECT {_FACE_COLUMNS} FROM faces WHERE id = %s AND identity_id = %s",
                          (face_id, identity_id))
        if not rows:
            raise FaceNotFoundError(f"identity {identity_id!r} has no face {face_id!r}")
        return _face(rows[0])

    def list_faces(self, identity_id: str) -> list[FaceSample]:
        self.get_identity(identity_id)
        rows = self._read(f"SELECT {_FACE_COLUMNS} FROM faces WHERE identity_id = %s "
                          "ORDER BY created_at, id", (identity_id,))
        return [_face(row) for row in rows]

    def delete_face(self, identity_id: str, face_id: str, *,
                    rewrite: ClassifierRewrite | None = None) -> None:
        with self._write() as conn:
            if conn.execute("UPDATE identities SET updated_at = %s WHERE id = %s RETURNING id",
                            (utcnow(), identity_id)).fetchone() is None:
                raise IdentityNotFoundError(f"no identity with id {identity_id!r}")
            if conn.execute("DELETE FROM faces WHERE id = %s AND identity_id = %s RETURNING id",
                            (face_id, identity_id)).fetchone() is None:
                raise FaceNotFoundError(f"identity {identity_id!r} has no face {face_id!r}")
            self._rewrite_in(conn, rewrite)
            _log_changes(conn, [face_id])

    def descriptors(self) -> list[tuple[str, str, Descriptor]]:
        rows = self._read("SELECT id, identity_id, descriptor FROM faces ORDER BY seq")
        matrix = vectors([row[2] for row in rows])
        return [(row[0], row[1], matrix[i]) for i, row in enumerate(rows)]

    def restore(self, identity: Identity, samples: list[FaceSample]) -> None:
        with self._write() as conn:
            _insert_identity(conn, identity)
            for sample in samples:
                _insert_face(conn, sample)
            _log_changes(conn, [sample.id for sample in samples])

    def counts(self) -> tuple[int, int]:
        row = self._read("SELECT (SELECT COUNT(*) FROM identities), (SELECT COUNT(*) FROM faces)")
        return int(row[0][0]), int(row[0][1])

    def change_marker(self) -> int:
        return int(self._read("SELECT version FROM gallery_state")[0][0])

    def changes_since(self, marker: int) -> Changes | None:
        with self._conn() as conn, conn.transaction(), conn.cursor(binary=True) as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            state = cur.execute("SELECT version, pruned_through FROM gallery_state").fetchone()
            if state is None:
                raise StoreError("the gallery_state row is missing (damaged schema)")
            version, pruned = int(state[0]), int(state[1])
            if not pruned <= marker <= version:
                return None  # the log was pruned past the marker, or another database
            rows = cur.execute(
                "SELECT c.face_id, f.identity_id, f.descriptor FROM (SELECT DISTINCT face_id "
                "FROM face_changes WHERE version > %s LIMIT %s) c LEFT JOIN faces f "
                "ON f.id = c.face_id", (marker, MAX_DELTA_FACES + 1)).fetchall()
        if len(rows) > MAX_DELTA_FACES:
            return None
        present = [row for row in rows if row[1] is not None]
        matrix = vectors([row[2] for row in present])
        return Changes(marker=version,
                       upserts=[(row[0], row[1], matrix[i]) for i, row in enumerate(present)],
                       removed=[row[0] for row in rows if row[1] is None])

    def nearest(self, probe: Descriptor, k: int, ef_search: int | None = None
                ) -> list[tuple[str, str, float]]:
        """The ``k`` nearest face samples by Euclidean distance through the HNSW index
        (approximate: ``ef_search`` candidates, at least ``k``; pgvector's default 40 when None),
        nearest first, as ``(face_id, identity_id, distance)``."""
        vector = vector_text(probe)
        with self._conn() as conn, conn.transaction(), conn.cursor(binary=True) as cur:
            cur.execute("SET LOCAL enable_seqscan = off")  # the index even for small galleries
            if ef_search is not None or k > 40:
                cur.execute("SELECT set_config('hnsw.ef_search', %s, true)",
                            (str(min(1000, max(ef_search or 40, k))),))
            rows = cur.execute(
                "SELECT id, identity_id, descriptor <-> %s::vector FROM faces "
                "ORDER BY descriptor <-> %s::vector LIMIT %s", (vector, vector, k)).fetchall()
        return [(row[0], row[1], float(row[2])) for row in rows]

    def close(self) -> None:
        self._pool.close()


def _log_changes(conn: Conn, face_ids: list[str]) -> None:
    """Bump the change-log version (the row lock orders writers by commit) and log the faces."""
    if not face_ids:
        return
    row = conn.execute("UPDATE gallery_state SET version = version + 1 RETURNING version") \
        .fetchone()
    version = int(row[0]) if row else 0
    conn.execute("INSERT INTO face_changes (version, face_id) SELECT %s, unnest(%s::text[])",
                 (version, face_ids))
    horizon = version - CHANGE_LOG_VERSIONS
    if horizon > 0 and version % PRUNE_EVERY == 0:
        conn.execute("DELETE FROM face_changes WHERE version <= %s", (horizon,))
        conn.execute("UPDATE gallery_state SET pruned_through = %s", (horizon,))


def _insert_identity(conn: Conn, identity: Identity) -> None:
    try:
        conn.execute(
            "INSERT INTO identities (id, name, name_folded, external_id, metadata, created_at, "
            "updated_at, consent, expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s)",
            (identity.id, identity.name, identity.name.lower(), identity.external_id,
             Jsonb(identity.metadata), identity.created_at, identity.updated_at,
             links.consent_json(identity.consent), identity.expires_at))
    except psycopg.errors.UniqueViolation as exc:
        taken = "external id" if "external_id" in (exc.diag.constraint_name or "") \
            else "identity id"
        raise ConflictError(f"that {taken} belongs to another identity") from exc


def _insert_face(conn: Conn, sample: FaceSample) -> None:
    try:
        conn.execute(
            f"INSERT INTO faces ({_FACE_COLUMNS}) "
            "VALUES (%s, %s, %s::vector, %s, %s, %s, %s, %s, %s)",
            (sample.id, sample.identity_id, vector_text(sample.descriptor), sample.chip_jpeg,
             sample.image_sha256, sample.detection_score, sample.created_at, sample.model,
             Jsonb(sample.box.as_dict()) if sample.box else None))
    except psycopg.errors.UniqueViolation as exc:
        raise DuplicateFaceError("this image is already enrolled for this identity",
                                 details={"identity_id": sample.identity_id}) from exc
    except psycopg.errors.ForeignKeyViolation as exc:
        raise IdentityNotFoundError(f"no identity with id {sample.identity_id!r}") from exc


def _identity(row: tuple[Any, ...]) -> Identity:
    return Identity(id=row[0], name=row[1], external_id=row[2], metadata=row[3],
                    created_at=row[4], updated_at=row[5], face_count=int(row[6]),
                    consent=links.consent_from(row[7]), expires_at=row[8])



def _face(row: tuple[Any, ...]) -> FaceSample:
    box = row[8]
    return FaceSample(
        id=row[0], identity_id=row[1], descriptor=vectors([row[2]])[0], chip_jpeg=bytes(row[3]),
        image_sha256=row[4], detection_score=row[5], created_at=row[6], model=row[7],
        box=Box(box["left"], box["top"], box["right"], box["bottom"]) if box else None)
