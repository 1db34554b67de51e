"""What the SQL store mixins (``SqlEvents``, ``SqlRetention``, ``SqlFeedback``, ``SqlReview``)
read from their host store, declared once: the host (``SQLiteStore``, ``PostgresStore``) sets
``_MARK`` (its driver's parameter placeholder), ``_PG`` (it is PostgreSQL) and ``_TEXT_TIMES``
(times stored as ISO-8601 text), and provides ``_write()`` (one transaction, yields a
connection), ``_read(sql, args)`` (rows as tuples) and ``_conn()`` (one connection, no
transaction of its own)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from facegate.storage.sql_classifiers import _Connection


class SqlHost:
    _MARK: str = "?"
    _PG: bool = False
    _TEXT_TIMES: bool = True

    def _write(self) -> AbstractContextManager[_Connection]:
        raise NotImplementedError

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _conn(self) -> AbstractContextManager[_Connection]:
        raise NotImplementedError

    def _q(self, sql: str) -> str:
        """``sql`` written with ``?`` placeholders, in the host driver's own."""
        return sql.replace("?", self._MARK)
