"""The unknown-face review queue from the user's side: real photos identified over real HTTP on a
live server (SQLite), the clusters listed, named, assigned, ignored and discarded; a stale
version refused whole; the queue off by default (a memory-store server)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, serving


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serving(tmp_path_factory.mktemp("review"),
                 review={"enabled": True, "enrol_best": 2}) as server:
        yield server


def identify(http: httpx.Client, photo: Path, camera: str = "door") -> list[dict[str, Any]]:
    response = http.post("/v1/identify", files={"image": (photo.name, photo.read_bytes())},
                         data={"camera": camera})
    assert response.status_code == 200, response.text
    faces: list[dict[str, Any]] = response.json()["faces"]
    return faces


def clusters(http: httpx.Client, status: str = "open") -> list[dict[str, Any]]:
    page = http.get("/v1/review/clusters", params={"status": status})
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items


def act(http: httpx.Client, cluster: dict[str, Any], action: str, **body: Any) -> httpx.Response:
    return http.post(f"/v1/review/clusters/{cluster['id']}/{action}",
                     json={"version": cluster["version"], **body})


def audited(http: httpx.Client, route: str) -> list[dict[str, Any]]:
    for _ in range(100):  # the audit writer commits in the background
        rows: list[dict[str, Any]] = http.get("/v1/audit", params={"route": route}).json()["items"]
        if rows:
            return rows
        time.sleep(0.1)
    return []


def test_unknown_faces_are_clustered_named_and_then_recognised(http: httpx.Client,
                                                               faces: Path) -> None:
    for photo in ("obama.jpg", "obama2.jpg", "biden.jpg", "obama3.jpg"):
        assert [f["status"] for f in identify(http, faces / photo)] == ["unknown"]
    page = http.get("/v1/review/clusters").json()
    assert page["enabled"] is True and page["retention_days"] == 7.0 and page["total"] == 2
    obama, biden = page["items"]
    assert (obama["size"], obama["seen"], biden["size"]) == (3, 3, 1)
    chip = http.get(obama["chip_url"])
    assert chip.headers["content-type"] == "image/jpeg" and chip.content[:2] == b"\xff\xd8"
    assert chip.headers["cache-control"] == "private, no-store"
    listed = http.get(f"/v1/review/clusters/{obama['id']}/faces").json()
    assert listed["cluster"] == obama and len(listed["items"]) == 3
    assert {f["camera"] for f in listed["items"]} == {"door"}
    qualities = [f["quality"] for f in listed["items"]]
    assert qualities == sorted(qualities, reverse=True) and listed["items"][0]["id"] == \
        obama["best_face_id"]
    assert "descriptor" not in str(listed)

    stale = act(http, {**obama, "version": obama["version"] - 1}, "name", name="Barack Obama")
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "REVIEW_CLUSTER_CHANGED"
    assert http.get("/v1/identities").json()["total"] == 0  # nothing half-done

    named = act(http, obama, "name", name="Barack Obama")
    assert named.status_code == 200, named.text
    body = named.json()
    assert body["action"] == "name" and body["faces"] == 3 and len(body["enrolled"]) == 2
    assert body["cluster"]["status"] == "named" and body["cluster"]["identity_id"] == \
        body["identity_id"]
    person = http.get(f"/v1/identities/{body['identity_id']}").json()
    assert (person["name"], person["face_count"]) == ("Barack Obama", 2)
    sample = body["enrolled"][0]
    assert http.get(sample["chip_url"]).content == http.get(
        f"/v1/review/faces/{obama['best_face_id']}/chip").content
    again = identify(http, faces / "obama3.jpg")
    assert again[0]["status"] == "identified" and again[0]["identity"]["name"] == "Barack Obama"
    assert [c["id"] for c in clusters(http)] == [biden["id"]]
    assert [c["id"] for c in clusters(http, "named")] == [obama["id"]]
    rows = audited(http, "/v1/review/clusters/{cluster_id}/name")
    assert rows[0]["details"]["review_action"] == "name"
    assert body["identity_id"] in rows[0]["identity_ids"]
    assert any(r["status"] == 409 for r in rows)

    # ignored: "nobody in the gallery"; the same face later is counted, not queued again
    ignored = act(http, biden, "ignore")
    assert ignored.status_code == 200 and ignored.json()["cluster"]["status"] == "ignored"
    assert identify(http, faces / "biden.jpg")[0]["status"] == "unknown"
    assert clusters(http) == []
    anchor = clusters(http, "ignored")[0]
    assert (anchor["id"], anchor["size"], anchor["seen"]) == (biden["id"], 1, 2)

    # erasing the person erases the review faces kept of them
    erased = http.delete(f"/v1/identities/{body['identity_id']}")
    assert erased.status_code == 200
    receipt = erased.json()["receipt"]  # the 3 queued faces of them, the 2 enrolled samples
    assert (receipt["review_items"], receipt["samples"]) == (3, 2)
    assert clusters(http, "named") == []
    assert http.get(obama["chip_url"]).json()["error"]["code"] == "REVIEW_FACE_NOT_FOUND"


def test_per_face_assign_discard_and_bad_input(http: httpx.Client, faces: Path) -> None:
    crowd = identify(http, faces / "group6.jpg", camera="hall")
    assert len(crowd) == 6 and all(f["status"] == "unknown" for f in crowd)
    fresh = [c for c in clusters(http) if c["size"] == 1]
    assert len(fresh) == 6
    first, second = fresh[0], fresh[1]
    someone = http.post("/v1/identities", json={"name": "Someone"}).json()
    face_id = first["best_face_id"]
    assigned = act(http, first, "assign", identity_id=someone["id"], face_ids=[face_id])
    assert assigned.status_code == 200, assigned.text
    assert len(assigned.json()["enrolled"]) == 1
    assert http.get(f"/v1/identities/{someone['id']}").json()["face_count"] == 1
    again = act(http, assigned.json()["cluster"], "assign", identity_id=someone["id"])
    assert again.status_code == 409 and again.json()["error"]["code"] == "CONFLICT"

    discarded = act(http, second, "discard")
    assert discarded.status_code == 200 and discarded.json()["cluster"] is None
    assert http.get(f"/v1/review/clusters/{second['id']}").json()["error"]["code"] == \
        "REVIEW_CLUSTER_NOT_FOUND"
    gone = http.get(second["chip_url"])
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "REVIEW_FACE_NOT_FOUND"

    third = [c for c in clusters(http) if c["size"] == 1][0]
    refusals = {
        "no version": (http.post(f"/v1/review/clusters/{third['id']}/ignore", json={}), 422),
        "empty face_ids": (act(http, third, "ignore", face_ids=[]), 422),
        "unknown face": (act(http, third, "discard", face_ids=["nope"]), 404),
        "unknown person": (act(http, third, "assign", identity_id="nope"), 404),
        "unknown cluster": (act(http, {"id": "nope", "version": 1}, "discard"), 404),
        "bad status": (http.get("/v1/review/clusters", params={"status": "x"}), 422),
        "blank name": (act(http, third, "name", name=" "), 422),
        "extra field": (act(http, third, "ignore", also=1), 422),
    }
    for what, (response, status) in refusals.items():
        assert response.status_code == status, (what, response.text)
        assert response.json()["error"]["code"], what
    assert http.get(f"/v1/review/clusters/{third['id']}").json()["version"] == third["version"]


def test_the_queue_is_off_by_default(tmp_path: Path, faces: Path) -> None:
    with serving(tmp_path, storage={"url": "memory://"}) as server, server.client() as http:
        assert identify(http, faces / "biden.jpg")[0]["status"] == "unknown"
        page = http.get("/v1/review/clusters").json()
        assert page["enabled"] is False and page["total"] == 0


def test_the_review_command_over_the_api(live: LiveServer, http: httpx.Client) -> None:
    from cli_inprocess import facegate

    listed = facegate("review", "list", "--server", live.url, "--json")
    assert listed.returncode == 0, listed.stderr
    page = json.loads(listed.stdout)
    assert page["enabled"] and page["total"] >= 3
    first, second, third = page["items"][:3]
    table = facegate("review", "list", "--server", live.url)
    assert first["id"] in table.stdout and f"of {page['total']} open clusters" in table.stdout

    stale = facegate("review", "ignore", first["id"], "--version", first["version"] + 7,
                     "--server", live.url)
    assert stale.returncode == 1 and "REVIEW_CLUSTER_CHANGED" in stale.stderr
    named = facegate("review", "name", first["id"], "Guest One", "--server", live.url)
    assert named.returncode == 0, named.stderr
    assert "name: " in named.stdout and "is named" in named.stdout
    guest = http.get("/v1/identities", params={"name": "Guest One"}).json()["items"][0]
    assert guest["face_count"] >= 1
    assigned = facegate("review", "assign", second["id"], guest["id"], "--version",
                        second["version"], "--server", live.url, "--json")
    assert assigned.returncode == 0, assigned.stderr
    assert json.loads(assigned.stdout)["identity_id"] == guest["id"]
    dropped = facegate("review", "discard", third["id"], "--face", third["best_face_id"],
                       "--server", live.url)
    assert dropped.returncode == 0 and "deleted" in dropped.stdout
    missing = facegate("review", "discard", "nope", "--version", "1", "--server", live.url)
    assert missing.returncode == 1 and "REVIEW_CLUSTER_NOT_FOUND" in missing.stderr


def test_kept_faces_expire_on_the_next_read(tmp_path: Path, faces: Path) -> None:
    with serving(tmp_path, storage={"url": "memory://"}, review={
            "enabled": True, "retention_days": 3 / 86400}) as server, \
            server.client() as http:  # kept for 3 seconds
        identify(http, faces / "biden.jpg")
        kept = http.get("/v1/review/clusters").json()
        assert kept["total"] == 1
        chip = kept["items"][0]["chip_url"]
        time.sleep(3.5)
        assert http.get("/v1/review/clusters").json()["total"] == 0
        assert http.get(chip).json()["error"]["code"] == "REVIEW_FACE_NOT_FOUND"
