"""The PostgreSQL gallery schema as numbered migrations, applied once each, in order.

``schema_migrations`` records what was applied. ``migrate`` runs every pending migration in one
transaction that first takes a transaction-scoped advisory lock, so replicas starting together
queue up behind each other: the first one applies, the rest find nothing left to do.

Descriptors live in a pgvector ``vector(128)`` column (float4, like facegate's float32
descriptors) with an HNSW index on the Euclidean distance (``vector_l2_ops``), the metric
facegate's threshold is defined in. Chips are JPEG bytes in ``bytea``.

``gallery_state`` (one row) and ``face_changes`` are the change log that keeps every replica's
in-memory index in step: each write that adds or removes face samples bumps
``gallery_state.version`` in its own transaction and logs the changed face ids under the new
version. The bump takes the row's lock until commit, so versions are handed out in commit order:
a reader that sees version N has every change up to N. Old log entries are pruned.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import psycopg

from facegate.errors import StoreError
from facegate.storage import sql_state
from facegate.storage.sql_access import POSTGRES_TABLES
from facegate.storage.sql_audit import POSTGRES_SCHEMA as AUDIT_SCHEMA
from facegate.storage.sql_events import POSTGRES_SCHEMA as EVENTS_SCHEMA
from facegate.storage.sql_feedback import POSTGRES_SCHEMA as FEEDBACK_SCHEMA
from facegate.storage.sql_governance import POSTGRES_MIGRATION as GOVERNANCE_SCHEMA
from facegate.storage.sql_review import POSTGRES_SCHEMA as REVIEW_SCHEMA

logger = logging.getLogger(__name__)

#: Arbitrary constant key of the advisory lock that serialises migrations ("facegate" in ASCII).
MIGRATION_LOCK_KEY = 0x66616365676174


#: The HNSW graph's links per node and build-time candidate list (pgvector's ``m`` and
#: ``ef_construction``); bench/search builds the same graph.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "gallery", """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE identities (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- Python's str.lower() of the name: the same case folding on every server and collation
    name_folded TEXT NOT NULL,
    external_id TEXT UNIQUE,
    metadata JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX identities_created ON identities (created_at, id);
CREATE TABLE faces (
    seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    id TEXT PRIMARY KEY,
    identity_id TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    descriptor vector(128) NOT NULL,
    model TEXT NOT NULL,
    chip_jpeg BYTEA NOT NULL,
    image_sha256 TEXT NOT NULL,
    detection_score DOUBLE PRECISION,
    box JSONB,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (identity_id, image_sha256)
);
CREATE INDEX faces_identity ON faces (identity_id, created_at);
CREATE INDEX faces_descriptor_hnsw ON faces USING hnsw (descriptor vector_l2_ops);
CREATE TABLE gallery_state (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    version BIGINT NOT NULL,
    pruned_through BIGINT NOT NULL
);
INSERT INTO gallery_state (version, pruned_through) VALUES (0, 0);
CREATE TABLE face_changes (
    version BIGINT NOT NULL,
    face_id TEXT NOT NULL,
    PRIMARY KEY (version, face_id)
);
"""),
    # pgvector's default graph (m 16, ef_construction 64) finds only ~89% of the exact top 10
    # in 1M descriptors at ef_search 400 (bench/results/search.md); a denser graph is worth its
    # slower build there. Rebuilding takes a while on a big gallery (in the migration's lock).
    Migration(2, "denser hnsw graph", f"""
DROP INDEX IF EXISTS faces_descriptor_hnsw;
CREATE INDEX faces_descriptor_hnsw ON faces USING hnsw (descriptor vector_l2_ops)
    WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION});
"""),
    # Trained identification classifiers (storage/sql_classifiers.py, shared with SQLite):
    # JSON as text, the fitted arrays as bytes, at most one row active.
    Migration(3, "classifiers", """
CREATE TABLE classifiers (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    params TEXT NOT NULL,
    metrics TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    identities INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    active SMALLINT NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
    blob BYTEA NOT NULL
);
CREATE UNIQUE INDEX classifiers_one_active ON classifiers (active) WHERE active = 1;
"""),
    # Liveness sessions and training jobs, shared by the replicas (storage/sql_state.py, the
    # same DDL as SQLite's).
    Migration(4, "shared state", sql_state.SCHEMA),
    # The audit log (storage/sql_audit.py, shared with SQLite): every replica writes this one.
    Migration(5, "audit", AUDIT_SCHEMA),
    # Users, login sessions and API keys (storage/sql_access.py, shared with SQLite).
    Migration(6, "access", POSTGRES_TABLES),
    # The event outbox (storage/sql_events.py, shared with SQLite): one for every replica.
    Migration(7, "event outbox", EVENTS_SCHEMA),
    # Consent, expiry and the retention job's runs (storage/sql_governance.py).
    Migration(8, "governance", GOVERNANCE_SCHEMA),
    # Kept probes and negative anchors (storage/sql_feedback.py, shared with SQLite).
    Migration(9, "feedback", FEEDBACK_SCHEMA),
    # The unknown-face review queue (storage/sql_review.py, shared with SQLite).
    Migration(10, "review queue", REVIEW_SCHEMA),
)

LATEST = MIGRATIONS[-1].version

_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)"""


def migrate(conn: psycopg.Connection[tuple[object, ...]]) -> list[int]:
    """Apply every pending migration (one transaction, under the advisory lock); returns the
    versions applied now. Refuses a database migrated by a newer facegate."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        conn.execute(_LEDGER)
        applied = {int(row[0]) for row in  # type: ignore[call-overload]
                   conn.execute("SELECT version FROM schema_migrations")}
        newer = sorted(v for v in applied if v > LATEST)
        if newer:
            raise StoreError(
                f"the gallery schema is at version {newer[-1]}; this facegate knows {LATEST}: "
                "upgrade facegate")
        done = []
        for migration in MIGRATIONS:
            if migration.version in applied:
                continue
            conn.execute(migration.sql.encode())
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                         (migration.version, migration.name))
            logger.info("gallery schema migration %d (%s) applied", migration.version,
                        migration.name)
            done.append(migration.version)
    return done


def schema_version(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    """The highest applied migration, 0 for an empty database."""
    row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0  # type: ignore[call-overload]
