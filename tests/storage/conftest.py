"""The ``store`` fixture of the contract suites: one GalleryStore per backend URL.

To run them against another backend, add its URL factory to ``STORE_URLS``, or the name of a
fixture that gives a URL (PostgreSQL: ``postgres_url``, a fresh, empty database per test).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from facegate.storage.base import GalleryStore, open_store

STORE_URLS: list[object] = [
    pytest.param(lambda tmp: "memory://", id="memory"),
    pytest.param(lambda tmp: f"sqlite:///{tmp / 'g.db'}", id="sqlite"),
    pytest.param("postgres_url", id="postgres"),  # a fixture: a fresh database per test
]


@pytest.fixture(params=STORE_URLS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GalleryStore]:
    make_url: Callable[[Path], str] | str = request.param
    url = request.getfixturevalue(make_url) if isinstance(make_url, str) else make_url(tmp_path)
    opened = open_store(url)
    yield opened
    opened.close()
