"""Two servers on one PostgreSQL write the one audit log: either shows both's requests."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from conftest import LiveServer


def test_both_replicas_rows_are_in_one_log(postgres_url: str,
                                           start_server: Callable[..., LiveServer],
                                           tmp_path: Path) -> None:
    # postgres_url first: its database is dropped after the servers stop (and flush)
    storage = {"url": postgres_url}
    first = start_server(tmp_path / "a", storage=storage)
    second = start_server(tmp_path / "b", storage=storage)
    with first.client() as a, second.client() as b:
        made = a.post("/v1/identities", json={"name": "on a"}).json()["id"]
        assert b.delete(f"/v1/identities/{made}").status_code == 200
        deadline = time.monotonic() + 10
        while True:
            items = b.get("/v1/audit", params={"identity_id": made}).json()["items"]
            if len(items) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert [(r["method"], r["route"]) for r in items] == [
        ("DELETE", "/v1/identities/{identity_id}"), ("POST", "/v1/identities")]
