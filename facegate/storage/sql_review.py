"""The review queue in an SQL gallery (``ReviewQueue``, see ``review.py``): the part SQLite and
PostgreSQL share, a mixin over the host's ``_write()`` / ``_read()`` like ``SqlEvents``.

``review_clusters`` holds each cluster with its centroid (float32 bytes) and ``version``;
``review_items`` the kept faces (chip JPEG and descriptor bytes), deleted with their cluster.
Both carry ``identity_id`` once named or assigned, a foreign key that cascades: erasing the
person erases them in the same transaction. Every write is one transaction; on PostgreSQL it
takes a transaction advisory lock first, so replicas place faces and settle clusters one at a
time (no two replicas start two clusters for one face, no action passes a concurrent join).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from facegate.domain import FaceSample, Identity
from facegate.errors import (
    IdentityNotFoundError,
)
from facegate.storage.review import (
    Placement,
    QueueLimits,
    ReviewCluster,
    ReviewFace,
    Settlement,
    check_settleable,
    chosen,
    epoch,
    fits,
    nearest,
    no_cluster,
    no_face,
    settled_status,
    summary,
)
from facegate.storage.sql_classifiers import _Connection
from facegate.storage.sql_host import SqlHost

_TABLES = """
CREATE TABLE IF NOT EXISTS review_clusters (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('open', 'ignored', 'named')),
    version BIGINT NOT NULL,
    size INTEGER NOT NULL,
    seen BIGINT NOT NULL,
    first_seen DOUBLE PRECISION NOT NULL,
    last_seen DOUBLE PRECISION NOT NULL,
    best_face_id TEXT,
    centroid {blob} NOT NULL,
    identity_id TEXT REFERENCES identities (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS review_clusters_order ON review_clusters (status, size, last_seen);
CREATE INDEX IF NOT EXISTS review_clusters_identity ON review_clusters (identity_id);
CREATE TABLE IF NOT EXISTS review_items (
    id TEXT PRIMARY KEY,
    cluster_id TEXT NOT NULL REFERENCES review_clusters (id) ON DELETE CASCADE,
    descriptor {blob} NOT NULL,
    chip_jpeg {blob} NOT NULL,
    image_sha256 TEXT NOT NULL,
    quality DOUBLE PRECISION NOT NULL,
    seen_at DOUBLE PRECISION NOT NULL,
    camera TEXT,
    identity_id TEXT REFERENCES identities (id) ON DELETE CASCADE,
    face_id TEXT
);
CREATE INDEX IF NOT EXISTS review_items_cluster ON review_items (cluster_id);
CREATE INDEX IF NOT EXISTS review_items_seen ON review_items (seen_at);
CREATE INDEX IF NOT EXISTS review_items_identity ON review_items (identity_id);
"""
SQLITE_SCHEMA = _TABLES.format(blob="BLOB")
POSTGRES_SCHEMA = _TABLES.format(blob="BYTEA")
#: The advisory lock of review writes ("fgrv").
LOCK_CLASS = 0x66677276

_CLUSTER = ("id, status, version, size, seen, first_seen, last_seen, best_face_id, centroid, "
            "identity_id")
_FACE = ("id, descriptor, chip_jpeg, image_sha256, quality, seen_at, camera, cluster_id, "
         "identity_id, face_id")


class SqlReview(SqlHost):
    """``ReviewQueue`` for a host store; ``_PG``: the host is PostgreSQL."""

    def _locked(self, db: _Connection) -> None:
        if self._PG:
            db.execute(f"SELECT pg_advisory_xact_lock({LOCK_CLASS}, 0)", ())

    # placing faces
    def add_review_face(self, face: ReviewFace, *, limits: QueueLimits,
                        new_cluster_id: str) -> Placement:
        with self._write() as db:
            self._locked(db)
            rows = db.execute("SELECT id, centroid FROM review_clusters "
                              "WHERE status IN ('open', 'ignored')", ()).fetchall()
            target = next((c for c in nearest([(r[0], _vector(r[1])) for r in rows],
                                              face.descriptor, limits.within)
                           if fits(self._faces_in(db, c), face.descriptor, limits)), None)
            if target is None:
                placement = self._start(db, face, new_cluster_id)
            else:
                placement = self._join(db, self._cluster_in(db, target), face, limits)
            evicted = self._evict(db, limits.max_faces)
        return Placement(placement.outcome, placement.cluster_id, evicted)

    def _start(self, db: _Connection, face: ReviewFace, cluster_id: str) -> Placement:
        db.execute(self._q(f"INSERT INTO review_clusters ({_CLUSTER}) "
                           "VALUES (?, 'open', 1, 0, 1, ?, ?, NULL, ?, NULL)"),
                   (cluster_id, face.seen_at, face.seen_at, _blob(face.descriptor)))
        self._insert(db, face, cluster_id)
        self._restate(db, cluster_id, bump=False)
        return Placement("queued", cluster_id)

    def _join(self, db: _Connection, cluster: ReviewCluster, face: ReviewFace,
              limits: QueueLimits) -> Placement:
        db.execute(self._q("UPDATE review_clusters SET seen = seen + 1, "
                           "last_seen = CASE WHEN last_seen > ? THEN last_seen ELSE ? END "
                           "WHERE id = ?"), (face.seen_at, face.seen_at, cluster.id))
        if cluster.status == "ignored":
            return Placement("ignored", cluster.id)
        if cluster.size >= limits.max_per_cluster:
            worst = db.execute(self._q(
                "SELECT id, quality FROM review_items WHERE cluster_id = ? "
                "ORDER BY quality, seen_at LIMIT 1"), (cluster.id,)).fetchone()
            if worst is None or float(worst[1]) >= face.quality:
                return Placement("counted", cluster.id)
            db.execute(self._q("DELETE FROM review_items WHERE id = ?"), (worst[0],))
        self._insert(db, face, cluster.id)
        self._restate(db, cluster.id)
        return Placement("queued", cluster.id)

    def _insert(self, db: _Connection, face: ReviewFace, cluster_id: str) -> None:
        db.execute(self._q(f"INSERT INTO review_items ({_FACE}) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)"),
                   (face.id, _blob(face.descriptor), face.chip_jpeg, face.image_sha256,
                    face.quality, face.seen_at, face.camera, cluster_id))

    def _evict(self, db: _Connection, max_faces: int) -> int:
        count = int(db.execute("SELECT COUNT(*) FROM review_items", ()).fetchone()[0])
        if count <= max_faces:
            return 0
        doomed = db.execute(self._q("SELECT id, cluster_id FROM review_items "
                                    "ORDER BY seen_at, id LIMIT ?"),
                            (count - max_faces,)).fetchall()
        self._delete_faces(db, doomed)
        return len(doomed)

    def _delete_faces(self, db: _Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        for face_id, _ in rows:
            db.execute(self._q("DELETE FROM review_items WHERE id = ?"), (face_id,))
        for cluster_id in sorted({r[1] for r in rows}):
            self._restate(db, cluster_id)

    def _restate(self, db: _Connection, cluster_id: str, *, bump: bool = True) -> None:
        """Write the cluster's summary from its kept faces; delete it when none are left."""
        cluster = self._cluster_in(db, cluster_id)
        after = summary(cluster, self._faces_in(db, cluster_id), bump=bump)
        if after.size == 0:
            db.execute(self._q("DELETE FROM review_clusters WHERE id = ?"), (cluster_id,))
            return
        db.execute(self._q(
            "UPDATE review_clusters SET version = ?, size = ?, first_seen = ?, "
            "best_face_id = ?, centroid = ? WHERE id = ?"),
            (after.version, after.size, after.first_seen, after.best_face_id,
             _blob(after.centroid), cluster_id))

    # reading
    def _cluster_in(self, db: _Connection, cluster_id: str) -> ReviewCluster:
        lock = " FOR UPDATE" if self._PG else ""
        row = db.execute(self._q(f"SELECT {_CLUSTER} FROM review_clusters WHERE id = ?{lock}"),
                         (cluster_id,)).fetchone()
        if row is None:
            raise no_cluster(cluster_id)
        return _cluster(row)

    def _faces_in(self, db: _Connection, cluster_id: str) -> list[ReviewFace]:
        rows = db.execute(self._q(f"SELECT {_FACE} FROM review_items WHERE cluster_id = ? "
                                  "ORDER BY quality DESC, seen_at DESC, id"),
                          (cluster_id,)).fetchall()
        return [_face(r) for r in rows]

    def review_clusters(self, *, status: str | None = "open", limit: int = 50,
                        offset: int = 0) -> tuple[list[ReviewCluster], int]:
        where, args = ("WHERE status = ?", (status,)) if status else ("", ())
        total = self._read(self._q(f"SELECT COUNT(*) FROM review_clusters {where}"), args)
        rows = self._read(self._q(
            f"SELECT {_CLUSTER} FROM review_clusters {where} "
            "ORDER BY size DESC, last_seen DESC, id LIMIT ? OFFSET ?"), (*args, limit, offset))
        return [_cluster(r) for r in rows], int(total[0][0])

    def review_cluster(self, cluster_id: str) -> ReviewCluster:
        rows = self._read(self._q(f"SELECT {_CLUSTER} FROM review_clusters WHERE id = ?"),
                          (cluster_id,))
        if not rows:
            raise no_cluster(cluster_id)
        return _cluster(rows[0])

    def review_faces(self, cluster_id: str) -> list[ReviewFace]:
        self.review_cluster(cluster_id)
        rows = self._read(self._q(f"SELECT {_FACE} FROM review_items WHERE cluster_id = ? "
                                  "ORDER BY quality DESC, seen_at DESC, id"), (cluster_id,))
        return [_face(r) for r in rows]

    def review_face(self, face_id: str) -> ReviewFace:
        rows = self._read(self._q(f"SELECT {_FACE} FROM review_items WHERE id = ?"), (face_id,))
        if not rows:
            raise no_face(face_id)
        return _face(rows[0])

    # acting
    def settle_review(self, settlement: Settlement) -> ReviewCluster | None:
        s = settlement
        with self._write() as db:
            self._locked(db)
            cluster = self._cluster_in(db, s.cluster_id)
            check_settleable(cluster, s)
            faces = self._faces_in(db, cluster.id)
            picked = chosen(faces, s.face_ids)
            whole = len(picked) == len(faces)
            if s.action == "discard":
                self._delete_faces(db, [(f.id, cluster.id) for f in picked])
                return None
            if s.action in ("name", "assign"):
                self._enrol_in(db, s)
            target = cluster.id if whole else s.split_id
            if not whole:
                db.execute(self._q(
                    f"INSERT INTO review_clusters ({_CLUSTER}) "
                    "VALUES (?, 'open', 0, 0, ?, ?, ?, NULL, ?, NULL)"),
                    (target, len(picked), min(f.seen_at for f in picked),
                     max(f.seen_at for f in picked), _blob(cluster.centroid)))
            identity_id = s.identity.id if s.identity is not None else s.identity_id
            for face in picked:
                db.execute(self._q("UPDATE review_items SET cluster_id = ?, identity_id = ?, "
                                   "face_id = ? WHERE id = ?"),
                           (target, identity_id, s.enrolled.get(face.id), face.id))
            db.execute(self._q("UPDATE review_clusters SET status = ?, identity_id = ? "
                               "WHERE id = ?"), (settled_status(s.action), identity_id, target))
            self._restate(db, target)
            if not whole:
                self._restate(db, cluster.id)
            return self._cluster_in(db, target)

    def _enrol_in(self, db: _Connection, s: Settlement) -> None:
        """Create or lock the identity and insert the samples, in the action's transaction."""
        if self._PG:
            from facegate.storage import postgres as pg

            if s.identity is not None:
                pg._insert_identity(db, s.identity)  # type: ignore[arg-type]
            elif db.execute("UPDATE identities SET updated_at = now() WHERE id = %s "
                            "RETURNING id", (s.identity_id,)).fetchone() is None:
                raise IdentityNotFoundError(f"no identity with id {s.identity_id!r}")
            for sample in s.samples:
                pg._insert_face(db, sample)  # type: ignore[arg-type]
            pg._log_changes(db, [x.id for x in s.samples])  # type: ignore[arg-type]
            return
        if s.identity is not None:
            self._insert_identity(db, s.identity)
        elif db.execute("SELECT 1 FROM identities WHERE id = ?",
                        (s.identity_id,)).fetchone() is None:
            raise IdentityNotFoundError(f"no identity with id {s.identity_id!r}")
        for sample in s.samples:
            self._insert_face(db, sample)

    def _insert_identity(self, db: Any, identity: Identity) -> None:
        raise NotImplementedError

    def _insert_face(self, db: Any, sample: FaceSample) -> None:
        raise NotImplementedError

    def expire_review_items(self, before: float | datetime) -> int:
        with self._write() as db:
            self._locked(db)
            doomed = db.execute(self._q("SELECT id, cluster_id FROM review_items "
                                        "WHERE seen_at < ?"), (epoch(before),)).fetchall()
            self._delete_faces(db, doomed)
        return len(doomed)


def _blob(vector: Any) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def _vector(blob: Any) -> Any:
    return np.frombuffer(bytes(blob), dtype="<f4").astype(np.float32)


def _cluster(row: tuple[Any, ...]) -> ReviewCluster:
    return ReviewCluster(
        id=row[0], status=row[1], version=int(row[2]), size=int(row[3]), seen=int(row[4]),
        first_seen=float(row[5]), last_seen=float(row[6]), best_face_id=row[7],
        centroid=_vector(row[8]), identity_id=row[9])


def _face(row: tuple[Any, ...]) -> ReviewFace:
    return ReviewFace(
        id=row[0], descriptor=_vector(row[1]), chip_jpeg=bytes(row[2]), image_sha256=row[3],
        quality=float(row[4]), seen_at=float(row[5]), camera=row[6], cluster_id=row[7],
        identity_id=row[8], face_id=row[9])
