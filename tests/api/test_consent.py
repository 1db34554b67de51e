"""A server that requires consent and gives every identity a lifetime, from the user's side:
creating or enrolling a person without consent is refused with 422 CONSENT_REQUIRED, a
consent record cannot be removed, identities get the default expiry, and the server's own
retention job erases the expired person once their time has passed (no command, no request),
with the audit row that says so."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, serving


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("consent") / "data"
    with serving(data, governance={"require_consent": True, "default_lifetime_days": 30,
                                   "retention_every_s": 1}) as server:
        yield server


def photo(faces: Path, name: str) -> dict[str, tuple[str, bytes]]:
    return {"image": (name, (faces / name).read_bytes())}


def code(answer: httpx.Response) -> tuple[int, str]:
    return answer.status_code, answer.json()["error"]["code"]


def test_consent_is_required_and_identities_get_the_default_lifetime(
        http: httpx.Client, faces: Path) -> None:
    assert code(http.post("/v1/identities", json={"name": "obama"})) == (422,
                                                                          "CONSENT_REQUIRED")
    made = http.post("/v1/identities", json={
        "name": "obama", "consent": {"purpose": "door access", "reference": "form 9"}})
    assert made.status_code == 201
    person = made.json()
    expires = datetime.fromisoformat(person["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=1)
    assert http.post(f"/v1/identities/{person['id']}/faces",
                     files=photo(faces, "obama.jpg")).status_code == 201
    assert code(http.patch(f"/v1/identities/{person['id']}", json={"consent": None})) == (
        422, "CONSENT_REQUIRED")
    changed = http.patch(f"/v1/identities/{person['id']}",
                         json={"consent": {"purpose": "door and car park"}}).json()
    assert changed["consent"]["purpose"] == "door and car park"
    assert changed["expires_at"] == person["expires_at"]
    refused = http.post("/v1/identities/nobody/faces", files=photo(faces, "biden.jpg"))
    assert code(refused) == (404, "IDENTITY_NOT_FOUND")


def test_the_servers_retention_job_erases_the_expired(http: httpx.Client,
                                                      faces: Path) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=2)
    person = http.post("/v1/identities", json={
        "name": "visitor", "consent": {"purpose": "one visit"},
        "expires_at": soon.isoformat()}).json()
    assert http.post(f"/v1/identities/{person['id']}/faces",
                     files=photo(faces, "biden.jpg")).status_code == 201
    deadline = time.monotonic() + 30
    while http.get(f"/v1/identities/{person['id']}").status_code == 200:
        assert time.monotonic() < deadline, "the retention job did not erase the expired"
        time.sleep(0.25)
    assert datetime.now(UTC) >= soon
    rows = http.get("/v1/audit", params={"identity_id": person["id"]}).json()["items"]
    job = [r for r in rows if r["route"] == "retention"]
    assert job and job[0]["actor"] == {"kind": "system", "id": None, "name": "retention"}
    assert job[0]["details"]["receipt"]["samples"] == 1
    assert "visitor" not in str(rows)
    identified = http.post("/v1/identify", files=photo(faces, "biden.jpg")).json()
    assert identified["faces"][0]["status"] == "unknown"
