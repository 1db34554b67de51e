"""Trained classifiers in an SQL gallery: the part of ``GalleryStore`` that SQLite and PostgreSQL
share, as a mixin over the host store's ``_write()`` (one transaction, yields a connection) and
``_read(sql, args)`` (rows as tuples).

The ``classifiers`` table: ``params`` and ``metrics`` as JSON text, the fitted arrays as a blob,
``active`` 0 or 1 with a partial unique index that allows at most one active row.

Erasure: ``_rewrite_in(db, rewrite)`` runs a ``ClassifierRewrite`` over the stored classifiers
inside the host's open transaction (the rows locked on PostgreSQL), so deleting a person and
taking them out of every classifier commit together.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Protocol

from facegate.domain import ClassifierInfo
from facegate.errors import ClassifierNotFoundError, ConflictError
from facegate.storage.base import ClassifierRewrite as ClassifierRewrite  # re-exported

_COLUMNS = "id, kind, params, metrics, created_at, identities, samples, active"


class _Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class _Connection(Protocol):
    def execute(self, sql: str, args: tuple[Any, ...], /) -> _Cursor: ...


class SqlClassifiers:
    """Classifier storage for a host store with ``_write``/``_read``; ``_MARK`` is its driver's
    parameter placeholder, ``_TEXT_TIMES`` whether times are stored as ISO-8601 text and
    ``_LOCK_ROWS`` what locks the rows a rewrite reads (SQLite's write lock covers the file)."""

    _MARK: str = "?"
    _TEXT_TIMES: bool = True
    _LOCK_ROWS: str = ""

    def _write(self) -> AbstractContextManager[_Connection]:
        raise NotImplementedError

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql.replace("?", self._MARK)

    def save_classifier(self, info: ClassifierInfo, blob: bytes) -> None:
        created: Any = info.created_at
        if self._TEXT_TIMES:  # fixed width, UTC: the text sorts like the times
            created = created.astimezone(UTC).isoformat(timespec="microseconds")
        with self._write() as db:
            if db.execute(self._sql("SELECT 1 FROM classifiers WHERE id = ?"),
                          (info.id,)).fetchone() is not None:
                raise ConflictError(f"a classifier with id {info.id!r} exists already")
            db.execute(
                self._sql(f"INSERT INTO classifiers ({_COLUMNS}, blob) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)"),
                (info.id, info.kind, json.dumps(info.params), json.dumps(info.metrics), created,
                 info.identities, info.samples, bytes(blob)))

    def list_classifiers(self) -> list[ClassifierInfo]:
        rows = self._read(f"SELECT {_COLUMNS} FROM classifiers ORDER BY created_at DESC, id")
        return [_classifier(row) for row in rows]

    def get_classifier(self, classifier_id: str) -> ClassifierInfo:
        rows = self._read(self._sql(f"SELECT {_COLUMNS} FROM classifiers WHERE id = ?"),
                          (classifier_id,))
        if not rows:
            raise _not_found(classifier_id)
        return _classifier(rows[0])

    def classifier_blob(self, classifier_id: str) -> bytes:
        rows = self._read(self._sql("SELECT blob FROM classifiers WHERE id = ?"),
                          (classifier_id,))
        if not rows:
            raise _not_found(classifier_id)
        return bytes(rows[0][0])

    def activate_classifier(self, classifier_id: str | None) -> None:
        with self._write() as db:  # raising rolls the deactivation back
            db.execute("UPDATE classifiers SET active = 0 WHERE active = 1", ())
            if classifier_id is not None and db.execute(
                    self._sql("UPDATE classifiers SET active = 1 WHERE id = ?"),
                    (classifier_id,)).rowcount != 1:
                raise _not_found(classifier_id)

    def active_classifier(self) -> ClassifierInfo | None:
        rows = self._read(f"SELECT {_COLUMNS} FROM classifiers WHERE active = 1")
        return _classifier(rows[0]) if rows else None

    def delete_classifier(self, classifier_id: str) -> None:
        with self._write() as db:
            if db.execute(self._sql("DELETE FROM classifiers WHERE id = ?"),
                          (classifier_id,)).rowcount != 1:
                raise _not_found(classifier_id)


    def rewrite_classifiers(self, rewrite: ClassifierRewrite, *,
                            only: list[str] | None = None) -> int:
        with self._write() as db:
            return self._rewrite_in(db, rewrite, only=only)

    def _rewrite_in(self, db: _Connection, rewrite: ClassifierRewrite | None, *,
                    only: list[str] | None = None) -> int:
        """Apply ``rewrite`` (if any) to the stored classifiers in ``db``'s open transaction."""
        if rewrite is None:
            return 0
        rows = db.execute(f"SELECT {_COLUMNS}, blob FROM classifiers ORDER BY id{self._LOCK_ROWS}",
                          ()).fetchall()
        changed = 0
        for row in rows:
            info, blob = _classifier(row), bytes(row[-1])
            if only is not None and info.id not in only:
                continue
            result = rewrite(info, blob)
            if result is None:
                db.execute(self._sql("DELETE FROM classifiers WHERE id = ?"), (info.id,))
            elif result[0] != info or result[1] != blob:
                new, new_blob = result
                db.execute(self._sql(
                    "UPDATE classifiers SET params = ?, metrics = ?, identities = ?, samples = ?, "
                    "blob = ? WHERE id = ?"),
                    (json.dumps(new.params), json.dumps(new.metrics), new.identities,
                     new.samples, bytes(new_blob), info.id))
            else:
                continue
            changed += 1
        return changed


def _not_found(classifier_id: str) -> ClassifierNotFoundError:
    return ClassifierNotFoundError(f"no classifier with id {classifier_id!r}")


def _classifier(row: tuple[Any, ...]) -> ClassifierInfo:
    created = row[4] if isinstance(row[4], datetime) else datetime.fromisoformat(row[4])
    return ClassifierInfo(
        id=row[0], kind=row[1], params=json.loads(row[2]), metrics=json.loads(row[3]),
        created_at=created, identities=int(row[5]), samples=int(row[6]), active=bool(row[7]))
