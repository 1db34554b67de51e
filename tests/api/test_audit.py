"""The audit log over real HTTP: every biometric or changing request leaves one row with its
actor, route template, outcome and identity ids, never an image or a descriptor; the log pages
and filters; old rows are purged at start; rows queued just before a stop are committed."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, settings_for

from facegate.storage.audit import AuditQuery, AuditRecord
from facegate.storage.sqlite import SQLiteStore

KEY = "audit-test-key-1"
AUTH = {"X-API-Key": KEY}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(settings_for(tmp_path_factory.mktemp("audit"),
                                     server={"api_keys": [KEY]})).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client(headers=AUTH) as client:
        yield client


def rows(http: httpx.Client, *, want: int = 1, **params: Any) -> list[dict[str, Any]]:
    """The log's items for ``params`` once at least ``want`` are there (the writer commits
    every ~100 ms)."""
    deadline = time.monotonic() + 10
    while True:
        answer = http.get("/v1/audit", params={"limit": 1000, **params})
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        if len(items) >= want or time.monotonic() > deadline:
            return items
        time.sleep(0.05)


def photo(faces: Path, name: str) -> dict[str, Any]:
    return {"image": (name, (faces / name).read_bytes(), "image/jpeg")}


@pytest.fixture(scope="module")
def obama(http: httpx.Client, faces: Path) -> str:
    made = http.post("/v1/identities", json={"name": "Barack"})
    identity_id: str = made.json()["id"]
    added = http.post(f"/v1/identities/{identity_id}/faces", files=photo(faces, "obama.jpg"))
    assert added.status_code == 201, added.text
    return identity_id


def test_enrol_leaves_rows_with_actor_route_and_ids(http: httpx.Client, obama: str) -> None:
    created = rows(http, route="POST /v1/identities", identity_id=obama)
    assert len(created) == 1
    row = created[0]
    assert row["status"] == 201 and row["error_code"] is None
    assert row["actor"]["kind"] == "bootstrap" and row["client"] == "127.0.0.1"
    assert row["request_id"]
    enrolled = rows(http, route="/v1/identities/{identity_id}/faces", identity_id=obama)
    assert enrolled[0]["method"] == "POST" and enrolled[0]["status"] == 201
    assert enrolled[0]["identity_ids"] == [obama] and enrolled[0]["details"]["face_id"]


def test_identify_names_the_ids_and_counts_unknowns(http: httpx.Client, obama: str,
                                                   faces: Path) -> None:
    known = http.post("/v1/identify", files=photo(faces, "obama2.jpg"))
    stranger = http.post("/v1/identify", files=photo(faces, "biden.jpg"))
    assert known.status_code == stranger.status_code == 200
    by_request = {r["request_id"]: r for r in rows(http, want=2, route="/v1/identify")}
    for answer, ids, unknown in ((known, [obama], 0), (stranger, [], 1)):
        rid = answer.headers.get("x-request-id")
        row = by_request[rid] if rid else next(
            r for r in by_request.values() if r["identity_ids"] == ids)
        assert row["identity_ids"] == ids and row["details"]["unknown"] == unknown
        assert row["status"] == 200 and row["method"] == "POST"


def test_verify_records_the_decision_and_distance(http: httpx.Client, obama: str,
                                                  faces: Path) -> None:
    answer = http.post("/v1/verify", files=photo(faces, "obama3.jpg"),
                       data={"identity_id": obama})
    assert answer.status_code == 200 and answer.json()["match"] is True
    row = rows(http, route="/v1/verify", identity_id=obama)[0]
    assert row["details"]["match"] is True
    assert row["details"]["distance"] == answer.json()["distance"]


def test_failures_are_audited_with_their_code(live: LiveServer, http: httpx.Client,
                                              faces: Path) -> None:
    assert http.post("/v1/identify", json={}).status_code == 422
    assert http.get("/v1/identities/no-such-person").status_code == 404
    with live.client() as anonymous:
        assert anonymous.post("/v1/identify", json={}).status_code == 401
    refused = rows(http, want=3, outcome="error")
    codes = {(r["route"], r["error_code"], r["actor"]["kind"]) for r in refused}
    assert ("/v1/identify", "VALIDATION_ERROR", "bootstrap") in codes
    assert ("/v1/identify", "UNAUTHORIZED", "anonymous") in codes
    missing = rows(http, identity_id="no-such-person")[0]
    assert missing["status"] == 404 and missing["error_code"] == "IDENTITY_NOT_FOUND"
    assert rows(http, outcome="IDENTITY_NOT_FOUND")[0]["id"] == missing["id"]
    assert {r["status"] for r in rows(http, outcome="422")} == {422}
    assert http.post("/v1/verify", files=photo(faces, "obama.jpg"),
                     data={"identity_id": "no-such-reference"}).status_code == 404
    wrong = rows(http, route="/v1/verify", identity_id="no-such-reference")[0]
    assert wrong["error_code"] == "IDENTITY_NOT_FOUND"


def test_deletes_are_audited(http: httpx.Client, faces: Path) -> None:
    person = http.post("/v1/identities", json={"name": "Joe"}).json()["id"]
    face = http.post(f"/v1/identities/{person}/faces", files=photo(faces, "biden.jpg"))
    face_id = face.json()["face"]["id"]
    assert http.delete(f"/v1/identities/{person}/faces/{face_id}").status_code == 200
    assert http.delete(f"/v1/identities/{person}").status_code == 200
    deleted = rows(http, want=2, route="DELETE /v1/identities/{identity_id}/faces/{face_id}") + \
        rows(http, route="DELETE /v1/identities/{identity_id}")
    assert [r["identity_ids"] for r in deleted] == [[person], [person]]
    assert deleted[0]["details"]["face_id"] == face_id and deleted[1]["status"] == 200


def test_reads_of_faces_are_audited_without_query_values(http: httpx.Client, obama: str) -> None:
    assert http.get("/v1/identities", params={"name": "secret-name-xyz"}).status_code == 200
    assert http.get(f"/v1/identities/{obama}/faces").status_code == 200
    assert http.get("/v1/config").status_code == 200 and http.get("/healthz").status_code == 200
    listing = rows(http, route="GET /v1/identities")
    assert listing and "secret-name-xyz" not in json.dumps(listing)
    assert rows(http, route="/v1/identities/{identity_id}/faces", identity_id=obama)
    assert rows(http, route="/v1/config", want=0) == []
    assert rows(http, route="/healthz", want=0) == []


def test_pages_and_time_filters(http: httpx.Client, faces: Path) -> None:
    for _ in range(3):
        http.post("/v1/detect", files=photo(faces, "obama.jpg"))
    every = rows(http, want=3, route="/v1/detect")
    seen, cursor = [], None
    while True:
        params = {"route": "/v1/detect", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = http.get("/v1/audit", params=params).json()
        seen += [r["id"] for r in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == [r["id"] for r in every] and len(set(seen)) == len(seen) == 3
    times = [r["time"] for r in every]
    assert times == sorted(times, reverse=True)
    newest = datetime.fromisoformat(times[0])
    assert [r["id"] for r in rows(http, route="/v1/detect", since=times[0])] == [every[0]["id"]]
    older = rows(http, route="/v1/detect", until=times[0], want=2)
    assert [r["id"] for r in older] == [r["id"] for r in every[1:]]
    later = (newest + timedelta(hours=1)).isoformat()
    assert rows(http, route="/v1/detect", since=later, want=0) == []
    assert rows(http, actor="bootstrap", route="/v1/detect", want=3) == every


@pytest.mark.parametrize("params", [{"cursor": "garbage"}, {"outcome": "maybe"},
                                    {"since": "yesterday"}, {"limit": 0}])
def test_bad_queries_are_refused(http: httpx.Client, params: dict[str, Any]) -> None:
    answer = http.get("/v1/audit", params=params)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "VALIDATION_ERROR"


def test_the_log_needs_the_key(live: LiveServer) -> None:
    with live.client() as anonymous:
        assert anonymous.get("/v1/audit").status_code == 401


def test_no_row_holds_an_image_or_a_descriptor(live: LiveServer, http: httpx.Client,
                                               faces: Path) -> None:
    assert http.post("/v1/embed", files=photo(faces, "obama.jpg")).status_code == 200
    rows(http, route="/v1/embed")
    database = live.settings.data_dir / "gallery.sqlite3"
    with sqlite3.connect(database) as db:
        stored = db.execute("SELECT * FROM audit").fetchall()
    assert len(stored) > 10
    for row in stored:
        text = json.dumps(row)
        assert len(text) < 2000, text
        assert not any(isinstance(v, bytes) for v in row)
        details = json.loads(row[-1])
        assert not any(isinstance(v, list) and len(v) > 32 for v in details.values())
    assert all("image" not in json.loads(row[-1]) for row in stored)


def test_rows_queued_before_a_stop_are_written_and_old_rows_purged_at_start(
        start_server: Callable[..., LiveServer], tmp_path: Path, faces: Path) -> None:
    data = tmp_path / "d"
    first = start_server(data, audit={"flush_ms": 60_000, "batch_rows": 10_000})
    with first.client() as client:
        assert client.post("/v1/detect", files=photo(faces, "obama.jpg")).status_code == 200
    first.stop()  # the writer would not commit for a minute: only the shutdown flush can
    store = SQLiteStore(data / "gallery.sqlite3")
    kept, _ = store.audit_page(AuditQuery(route="/v1/detect"))
    assert len(kept) == 1 and kept[0].status == 200
    old = datetime.now(UTC) - timedelta(days=40)
    store.append_audit([AuditRecord(id="old", time=old, actor_kind="anonymous", actor_id=None,
                                    actor_name=None, client=None, request_id="r", method="POST",
                                    route="/v1/detect", status=200)])
    store.close()
    second = start_server(data, audit={"retention_days": 30})
    with second.client() as client:
        left = client.get("/v1/audit", params={"route": "/v1/detect"}).json()["items"]
    assert [r["id"] for r in left] == [kept[0].id]
