"""Kept probes and negative anchors in an SQL gallery (``FeedbackStore``, see ``feedback.py``):
the part SQLite and PostgreSQL share, a mixin over the host's ``_write()`` / ``_read()`` like
``SqlClassifiers``. Descriptors are 512-byte float32 blobs on both; times epoch seconds.

Neither table references ``identities``: their rows go with an identity's erasure through
``storage/identity_links.py`` (counted for the receipt), inside the deletion's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from facegate.errors import AnchorNotFoundError
from facegate.storage.feedback import KeptProbe, NegativeAnchor, epoch
from facegate.storage.sql_host import SqlHost

_TABLES = """
CREATE TABLE IF NOT EXISTS kept_probes (
    request_id TEXT NOT NULL,
    face_index INTEGER NOT NULL,
    descriptor {blob} NOT NULL,
    identity_id TEXT,
    score DOUBLE PRECISION,
    size_px INTEGER NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    verdict TEXT,
    verdict_identity TEXT,
    PRIMARY KEY (request_id, face_index)
);
CREATE INDEX IF NOT EXISTS kept_probes_expiry ON kept_probes (expires_at);
CREATE INDEX IF NOT EXISTS kept_probes_identity ON kept_probes (identity_id);
CREATE TABLE IF NOT EXISTS negative_anchors (
    id TEXT PRIMARY KEY,
    identity_id TEXT NOT NULL,
    descriptor {blob} NOT NULL,
    request_id TEXT NOT NULL,
    face_index INTEGER NOT NULL,
    score DOUBLE PRECISION,
    created_at DOUBLE PRECISION NOT NULL,
    UNIQUE (request_id, face_index)
);
CREATE INDEX IF NOT EXISTS negative_anchors_identity ON negative_anchors (identity_id);
"""
SQLITE_SCHEMA = _TABLES.format(blob="BLOB")
POSTGRES_SCHEMA = _TABLES.format(blob="BYTEA")

_PROBE = ("request_id, face_index, descriptor, identity_id, score, size_px, created_at, "
          "expires_at, verdict, verdict_identity")
_ANCHOR = "id, identity_id, descriptor, request_id, face_index, score, created_at"


class SqlFeedback(SqlHost):
    def keep_probes(self, probes: Sequence[KeptProbe], *, now: float, max_rows: int) -> None:
        with self._write() as db:
            db.execute(self._q("DELETE FROM kept_probes WHERE expires_at <= ?"), (now,))
            for p in probes:
                db.execute(self._q(
                    f"INSERT INTO kept_probes ({_PROBE}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (request_id, face_index) DO NOTHING"),
                    (p.request_id, p.face_index, _blob(p.descriptor), p.identity_id, p.score,
                     p.size_px, p.created_at, p.expires_at, p.verdict, p.verdict_identity))
            count = db.execute("SELECT COUNT(*) FROM kept_probes", ()).fetchone()[0]
            if count > max_rows:
                db.execute(self._q(
                    "DELETE FROM kept_probes WHERE (request_id, face_index) IN (SELECT "
                    "request_id, face_index FROM kept_probes ORDER BY created_at, request_id "
                    "LIMIT ?)"), (int(count - max_rows),))

    def kept_probes(self, request_id: str, *, now: float) -> list[KeptProbe]:
        rows = self._read(self._q(
            f"SELECT {_PROBE} FROM kept_probes WHERE request_id = ? AND expires_at > ? "
            "ORDER BY face_index"), (request_id, now))
        return [KeptProbe(str(r[0]), int(r[1]), _vector(r[2]), r[3],
                          None if r[4] is None else float(r[4]), int(r[5]), float(r[6]),
                          float(r[7]), r[8], r[9]) for r in rows]

    def set_verdict(self, request_id: str, face_index: int, verdict: str | None,
                    identity_id: str | None) -> None:
        with self._write() as db:
            db.execute(self._q("UPDATE kept_probes SET verdict = ?, verdict_identity = ? "
                                "WHERE request_id = ? AND face_index = ?"),
                       (verdict, identity_id, request_id, face_index))

    def expire_kept_probes(self, before: float | datetime) -> int:
        with self._write() as db:
            return db.execute(self._q("DELETE FROM kept_probes WHERE expires_at <= ?"),
                              (epoch(before),)).rowcount

    def add_negative_anchor(self, anchor: NegativeAnchor) -> NegativeAnchor:
        with self._write() as db:
            db.execute(self._q(
                f"INSERT INTO negative_anchors ({_ANCHOR}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (request_id, face_index) DO NOTHING"),
                (anchor.id, anchor.identity_id, _blob(anchor.descriptor), anchor.request_id,
                 anchor.face_index, anchor.score, anchor.created_at))
            row = db.execute(self._q(f"SELECT {_ANCHOR} FROM negative_anchors WHERE "
                                      "request_id = ? AND face_index = ?"),
                             (anchor.request_id, anchor.face_index)).fetchone()
        return _anchor(tuple(row))

    def negative_anchors(self, identity_id: str) -> list[NegativeAnchor]:
        rows = self._read(self._q(f"SELECT {_ANCHOR} FROM negative_anchors WHERE "
                                   "identity_id = ? ORDER BY created_at, id"), (identity_id,))
        return [_anchor(r) for r in rows]

    def delete_negative_anchor(self, identity_id: str, anchor_id: str) -> None:
        with self._write() as db:
            gone = db.execute(self._q("DELETE FROM negative_anchors WHERE id = ? AND "
                                       "identity_id = ?"), (anchor_id, identity_id)).rowcount
        if not gone:
            raise AnchorNotFoundError(
                f"identity {identity_id!r} has no negative anchor {anchor_id!r}")


def _blob(vector: np.typing.NDArray[np.float32]) -> bytes:
    return vector.astype("<f4").tobytes()


def _vector(blob: Any) -> np.typing.NDArray[np.float32]:
    return np.frombuffer(bytes(blob), dtype="<f4").astype(np.float32)


def _anchor(row: tuple[Any, ...]) -> NegativeAnchor:
    return NegativeAnchor(id=str(row[0]), identity_id=str(row[1]), descriptor=_vector(row[2]),
                          request_id=str(row[3]), face_index=int(row[4]),
                          score=None if row[5] is None else float(row[5]),
                          created_at=float(row[6]))
