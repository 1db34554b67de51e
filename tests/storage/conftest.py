"""The ``store`` fixture of the contract suites: one GalleryStore per backend URL.

To run them against another backend, add its URL factory to ``STORE_URLS``, or the name of a
fixture that gives a URL (PostgreSQL: ``migrated_postgres_url``, a fresh database per test that
holds the schema, copied from one migrated once per session).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from facegate.storage.base import GalleryStore, open_store
from facegate.storage.sqlite import SCHEMA_VERSION

STORE_URLS: list[object] = [
    pytest.param(lambda tmp: "memory://", id="memory"),
    pytest.param(lambda tmp: f"sqlite:///{tmp / 'g.db'}", id="sqlite"),
    pytest.param("migrated_postgres_url", id="postgres"),  # a fixture: a fresh database per test
]


@pytest.fixture(params=STORE_URLS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GalleryStore]:
    make_url: Callable[[Path], str] | str = request.param
    url = request.getfixturevalue(make_url) if isinstance(make_url, str) else make_url(tmp_path)
    opened = open_store(url)
    yield opened
    opened.close()


@contextmanager
def upgraded_from(path: Path, version: int) -> Iterator[GalleryStore]:
    """A SQLite file that says it is a gallery of schema ``version``, opened (so upgraded) by
    facegate and closed on the way out; the file is then at the current schema version."""
    with closing(sqlite3.connect(path)) as raw:
        raw.execute(f"PRAGMA user_version = {version}")
    store = open_store(f"sqlite:///{path}")
    try:
        yield store
    finally:
        store.close()
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
