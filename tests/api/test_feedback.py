"""POST /v1/feedback from the user's side: a live server on SQLite, real faces.

``wrong`` must change later decisions (the same stranger is not named again, the person still
is), ``is`` enrols the face, every effect is listed, audited and undoable, and bad feedback is
a 4xx with a stable code.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli_inprocess import facegate
from conftest import LiveServer, serving

#: Far above the default 0.6, so that Biden is (wrongly) named Obama on the registry photos.
LOOSE = "1.2"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serving(tmp_path_factory.mktemp("feedback")) as server:
        yield server


def person(http: httpx.Client, name: str, photo: Path | None = None) -> str:
    created = http.post("/v1/identities", json={"name": name})
    assert created.status_code == 201, created.text
    identity_id: str = created.json()["id"]
    if photo is not None:
        added = http.post(f"/v1/identities/{identity_id}/faces",
                          files={"image": (photo.name, photo.read_bytes())})
        assert added.status_code == 201, added.text
    return identity_id


def identify(http: httpx.Client, photo: Path, threshold: str | None = None) -> dict[str, Any]:
    data = {"threshold": threshold} if threshold else {}
    answer = http.post("/v1/identify", files={"image": (photo.name, photo.read_bytes())},
                       data=data)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["request_id"] == answer.headers["X-Request-ID"]
    return body


def feedback(http: httpx.Client, request_id: str, verdict: str, face_index: int = 0,
             **extra: Any) -> httpx.Response:
    return http.post("/v1/feedback", json={"request_id": request_id, "face_index": face_index,
                                           "verdict": verdict, **extra})


def audit_rows(http: httpx.Client, route: str, count: int) -> list[dict[str, Any]]:
    """The newest ``count`` audit rows of a route (the writer commits in the background)."""
    deadline = time.monotonic() + 10
    while True:
        rows: list[dict[str, Any]] = http.get("/v1/audit", params={"route": route}).json()[
            "items"]
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_wrong_feedback_stops_the_same_stranger_being_named_again(
        http: httpx.Client, faces: Path) -> None:
    obama = person(http, "Barack Obama", faces / "obama.jpg")
    first = identify(http, faces / "biden.jpg", LOOSE)
    assert first["faces"][0]["identity"]["identity_id"] == obama  # the false match
    given = feedback(http, first["request_id"], "wrong")
    assert given.status_code == 200, given.text
    anchor = given.json()
    assert (anchor["effect"], anchor["identity_id"], anchor["repeated"]) == (
        "negative_anchor", obama, False)
    again = feedback(http, first["request_id"], "wrong", identity_id=obama).json()
    assert again["repeated"] and again["anchor_id"] == anchor["anchor_id"]  # idempotent
    listed = http.get(f"/v1/identities/{obama}/negatives").json()["items"]
    assert [a["id"] for a in listed] == [anchor["anchor_id"]]
    assert "descriptor" not in listed[0] and listed[0]["request_id"] == first["request_id"]

    later = identify(http, faces / "biden.jpg", LOOSE)["faces"][0]
    assert (later["status"], later["identity"]) == ("unknown", None)
    assert later["refused_identity_id"] == obama
    for photo in ("obama2.jpg", "obama3.jpg"):  # the person is still named, at both thresholds
        for threshold in (None, LOOSE):
            face = identify(http, faces / photo, threshold)["faces"][0]
            assert face["identity"]["identity_id"] == obama, (photo, threshold)
            assert "refused_identity_id" not in face

    rows = audit_rows(http, "/v1/feedback", 2)
    assert {(r["details"]["verdict"], r["details"]["effect"]) for r in rows} == {
        ("wrong", "negative_anchor")}
    assert all(r["identity_ids"] == [obama] and r["status"] == 200 for r in rows)

    deleted = http.delete(f"/v1/identities/{obama}/negatives/{anchor['anchor_id']}")
    assert deleted.json() == {"deleted": anchor["anchor_id"]}
    assert identify(http, faces / "biden.jpg", LOOSE)["faces"][0]["identity"][
        "identity_id"] == obama  # undone: named again
    gone = http.delete(f"/v1/identities/{obama}/negatives/{anchor['anchor_id']}")
    assert (gone.status_code, gone.json()["error"]["code"]) == (404,
                                                                "NEGATIVE_ANCHOR_NOT_FOUND")


def test_is_enrols_the_face_and_undo_takes_it_back(http: httpx.Client, faces: Path) -> None:
    biden = person(http, "Joe Biden")
    answer = identify(http, faces / "biden.jpg")
    assert answer["faces"][0]["status"] == "unknown"
    wrong = feedback(http, answer["request_id"], "wrong")  # nobody was named: nothing wrong
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (422, "VALIDATION_ERROR")
    given = feedback(http, answer["request_id"], "is", identity_id=biden)
    assert given.status_code == 200, given.text
    enrolled = given.json()
    assert enrolled["effect"] == "enrolled" and enrolled["identity_id"] == biden
    faces_now = http.get(f"/v1/identities/{biden}/faces").json()["items"]
    assert [f["id"] for f in faces_now] == [enrolled["face_id"]]
    repeat = feedback(http, answer["request_id"], "is", identity_id=biden).json()
    assert repeat["repeated"] and repeat["face_id"] == enrolled["face_id"]
    assert len(http.get(f"/v1/identities/{biden}/faces").json()["items"]) == 1
    named = identify(http, faces / "biden.jpg")["faces"][0]
    assert named["identity"]["identity_id"] == biden  # the feedback taught the gallery

    conflict = feedback(http, answer["request_id"], "correct")
    assert conflict.status_code in (409, 422)  # unknown face: never "correct"
    undone = http.delete(f"/v1/feedback/{answer['request_id']}/0").json()["undone"]
    assert undone["face_id"] == enrolled["face_id"]
    assert http.get(f"/v1/identities/{biden}/faces").json()["items"] == []
    assert http.delete(f"/v1/feedback/{answer['request_id']}/0").json() == {"undone": None}


def test_correct_and_conflicting_verdicts_on_a_verify(http: httpx.Client, faces: Path) -> None:
    obama = person(http, "Obama again", faces / "obama.jpg")
    answer = http.post("/v1/verify", files={"image": ("o.jpg", (faces / "obama2.jpg")
                                                      .read_bytes())},
                       data={"identity_id": obama})
    body = answer.json()
    assert body["match"] and body["request_id"] == answer.headers["X-Request-ID"]
    ok = feedback(http, body["request_id"], "correct").json()
    assert (ok["effect"], ok["identity_id"]) == ("none", obama)
    conflict = feedback(http, body["request_id"], "wrong")
    assert (conflict.status_code, conflict.json()["error"]["code"]) == (409, "CONFLICT")
    assert http.get(f"/v1/identities/{obama}/negatives").json()["items"] == []


def test_bad_feedback_is_refused_with_stable_codes(http: httpx.Client, faces: Path) -> None:
    answer = identify(http, faces / "group6.jpg")
    count = len(answer["faces"])
    assert count >= 2
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"request_id": "no-such-request", "face_index": 0, "verdict": "correct"}, 404,
         "REQUEST_NOT_FOUND"),
        ({"request_id": answer["request_id"], "face_index": count, "verdict": "is",
          "identity_id": "x"}, 422, "VALIDATION_ERROR"),
        ({"request_id": answer["request_id"], "face_index": -1, "verdict": "wrong"}, 422,
         "VALIDATION_ERROR"),
        ({"request_id": answer["request_id"], "face_index": 0, "verdict": "maybe"}, 422,
         "VALIDATION_ERROR"),
        ({"request_id": answer["request_id"], "face_index": 0, "verdict": "is"}, 422,
         "VALIDATION_ERROR"),
        ({"request_id": answer["request_id"], "face_index": 0, "verdict": "is",
          "identity_id": "no-such-person"}, 422, "VALIDATION_ERROR"),
        ({"request_id": answer["request_id"], "face_index": "zero", "verdict": "is"}, 422,
         "VALIDATION_ERROR"),
        ({"face_index": 0, "verdict": "is"}, 422, "VALIDATION_ERROR"),
    ]
    for body, status, code in cases:
        refused = http.post("/v1/feedback", json=body)
        assert (refused.status_code, refused.json()["error"]["code"]) == (status, code), body
    small = min(range(count), key=lambda i: answer["faces"][i]["quality"]["size_px"])
    tiny = person(http, "Someone in the crowd")
    if answer["faces"][small]["quality"]["size_px"] < 60:  # the enrolment quality gate
        gated = feedback(http, answer["request_id"], "is", small, identity_id=tiny)
        assert gated.status_code == 422 and "too small" in gated.json()["error"]["message"]
    assert http.get("/v1/identities/no-such-person/negatives").status_code == 404
    assert http.delete("/v1/feedback/no-such-request/0").json()["error"][
        "code"] == "REQUEST_NOT_FOUND"


@pytest.mark.shared
def test_a_real_look_alike_is_not_named_again_after_wrong(
        http: httpx.Client, shared_faces: Path) -> None:
    """LFW: Kim Jin-sun's two photos are both within 0.6 of Kim Jong-Il's enrolled one."""
    lfw = shared_faces / "lfw" / "images"
    kim = person(http, "Kim Jong-Il", lfw / "Kim_Jong-Il" / "Kim_Jong-Il_0002.jpg")
    stranger = lfw / "Kim_Jin-sun"
    first = identify(http, stranger / "Kim_Jin-sun_0001.jpg")
    assert first["faces"][0]["identity"]["identity_id"] == kim
    before = identify(http, stranger / "Kim_Jin-sun_0002.jpg")["faces"][0]
    assert before["identity"]["identity_id"] == kim  # named again without feedback
    assert feedback(http, first["request_id"], "wrong").status_code == 200
    after = identify(http, stranger / "Kim_Jin-sun_0002.jpg")["faces"][0]
    assert after["status"] == "unknown" and after["refused_identity_id"] == kim
    genuine = identify(http, lfw / "Kim_Jong-Il" / "Kim_Jong-Il_0003.jpg")["faces"][0]
    assert genuine["identity"]["identity_id"] == kim


def test_the_cli_gives_feedback_over_the_same_route(
        live: LiveServer, http: httpx.Client, faces: Path) -> None:
    obama = person(http, "Obama for the CLI", faces / "obama.jpg")
    answer = identify(http, faces / "obama2.jpg")
    rid = answer["request_id"]
    named = answer["faces"][0]["identity"]["identity_id"]
    assert named == obama or named in {c["identity_id"] for c in answer["faces"][0]["candidates"]}
    ran = facegate("feedback", rid, 0, "correct", "--server", live.url)
    assert ran.returncode == 0, ran.stderr
    assert f"correct: face 0 of {rid} recorded {named}" in ran.stdout
    again = facegate("feedback", rid, 0, "correct", "--server", live.url, "--json")
    assert again.returncode == 0 and '"repeated": true' in again.stdout
    refused = facegate("feedback", rid, 0, "wrong", "--server", live.url)
    assert refused.returncode == 1 and "CONFLICT" in refused.stderr
    missing = facegate("feedback", "no-such-request", 0, "is", "--identity", obama,
                       "--server", live.url)
    assert missing.returncode == 1 and "REQUEST_NOT_FOUND" in missing.stderr
    bad = facegate("feedback", rid, 0, "maybe", "--server", live.url)
    assert bad.returncode == 2  # typer refuses the verdict before any request
    rows = audit_rows(http, "/v1/feedback", 3)
    assert any(r["details"].get("verdict") == "correct" and r["identity_ids"] == [named]
               for r in rows)


@pytest.mark.shared
def test_evaluate_feedback_runs_the_protocol_on_real_look_alikes(
        tmp_path: Path, shared_faces: Path) -> None:
    """Kim Jong-Il enrolled, Kim Jin-sun a stranger named as him: after 'wrong' on her first
    photo her second is no longer named, and nobody enrolled loses a match."""
    lfw = shared_faces / "lfw" / "images"
    people = tmp_path / "people"
    for order, name in enumerate(("Kim_Jong-Il", "Kim_Jin-sun", "Gray_Davis", "Tony_Blair")):
        folder = people / f"{order}_{name}"
        folder.mkdir(parents=True)
        for photo in sorted((lfw / name).iterdir())[:3]:
            (folder / photo.name).symlink_to(photo)
    ran = facegate("evaluate", "feedback", people, "--json", "--workers", 1,
                   "--cache", tmp_path / "cache")
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert (report["enrolled"], report["strangers"]) == (2, 2)
    assert report["feedback_given"] >= 1
    before, after = report["before"], report["after"]
    assert before["repeat_false_matches"]["count"] >= 1
    assert after["repeat_false_matches"]["count"] == 0
    assert after["fnir"] <= before["fnir"] + 0.01
    assert set(before) == set(after) == {"fpir", "fnir", "repeat_false_matches"}
