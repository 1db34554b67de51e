"""Events over webhooks, from the user's side: a live server with two webhooks (one signed and
taking every event, one filtered to ``identity.created``), real receivers, real faces.

Calls go in over HTTP; what the receivers get is checked field by field, the signature verified
as a receiver would, the retry path driven by a receiver that refuses the first attempts, and
the delivery log and test-send routes read back. One server for the module (plus a small one
whose sinks are broken, for ``/readyz``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, free_port, settings_for
from PIL import Image
from webhook_receiver import Receiver

from facegate.events.webhook import verify_signature

SECRET = "s3cret-for-tests"


@pytest.fixture(scope="module")
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    every, filtered = Receiver().start(), Receiver().start()
    yield every, filtered
    every.stop()
    filtered.stop()


@pytest.fixture(scope="module")
def chips() -> Iterator[Receiver]:
    """The receiver of the one sink with ``snapshot`` on (identified faces only)."""
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def live(receivers: tuple[Receiver, Receiver], chips: Receiver,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    every, filtered = receivers
    settings = settings_for(tmp_path_factory.mktemp("events"), events={
        "webhooks": [{"url": every.url, "secret": SECRET},
                     {"url": filtered.url, "events": ["identity.created"]},
                     {"url": chips.url, "events": ["face.identified"], "snapshot": True}],
        "first_retry_s": 0.05, "max_retry_s": 0.2})
    server = LiveServer(settings).start()
    yield server
    server.stop()


def photo(faces: Path, name: str) -> dict[str, tuple[str, bytes]]:
    return {"image": (name, (faces / name).read_bytes())}


def test_every_call_becomes_an_event_with_its_fields(
        http: httpx.Client, receivers: tuple[Receiver, Receiver], faces: Path) -> None:
    every, filtered = receivers
    start = len(every.acknowledged())
    obama = http.post("/v1/identities", json={"name": "Barack Obama"}).json()
    face = http.post(f"/v1/identities/{obama['id']}/faces", files=photo(faces, "obama2.jpg"))
    assert face.status_code == 201, face.text
    named = http.post("/v1/identify", files=photo(faces, "obama.jpg"),
                      data={"camera": "front-door"})
    unknown = http.post("/v1/identify?camera=garage", files=photo(faces, "biden.jpg"))
    verified = http.post("/v1/verify", json={
        "image": _b64(faces / "obama3.jpg"), "identity_id": obama["id"], "camera": "desk"})
    assert [r.status_code for r in (named, unknown, verified)] == [200, 200, 200]
    assert http.patch(f"/v1/identities/{obama['id']}", json={"name": "Obama"}).status_code \
        == 200
    face_id = face.json()["face"]["id"]
    every.wait_for(start + 6)  # erasing a person also erases their events not yet delivered
    assert http.delete(f"/v1/identities/{obama['id']}/faces/{face_id}").status_code == 200
    every.wait_for(start + 7)  # (docs/governance.md): let the receiver have them first
    assert http.delete(f"/v1/identities/{obama['id']}").status_code == 200

    got = every.wait_for(start + 8)[start:]
    assert [e["event"] for e in got] == [
        "identity.created", "face.enrolled", "face.identified", "face.unknown",
        "verify.decided", "identity.updated", "face.deleted", "identity.deleted"]
    for event in got:
        assert {"event", "id", "time", "request_id", "camera"} <= event.keys()
        assert "descriptor" not in json.dumps(event) and "snapshot" not in event
    created, enrolled, hit, miss, decided, updated, removed, deleted = got
    assert created["identity_id"] == obama["id"] and created["name"] == "Barack Obama"
    assert enrolled["face_id"] == face_id and enrolled["box"]["right"] > enrolled["box"]["left"]
    assert hit["camera"] == "front-door" and hit["request_id"] == named.headers["x-request-id"]
    answer = named.json()["faces"][0]
    assert (hit["identity_id"], hit["name"], hit["distance"], hit["threshold"], hit["box"]) == (
        obama["id"], "Barack Obama", answer["identity"]["distance"], answer["threshold"],
        answer["box"])
    assert hit["distance"] < hit["threshold"]
    assert miss["camera"] == "garage" and miss["nearest"]["identity_id"] == obama["id"]
    assert miss["distance"] == miss["nearest"]["distance"] > miss["threshold"]
    assert (decided["camera"], decided["match"], decided["identity_id"], decided["mode"]) == (
        "desk", True, obama["id"], "identity")
    assert decided["distance"] == verified.json()["distance"]
    assert updated["name"] == "Obama" and updated["changed"] == ["name"]
    assert removed["face_id"] == face_id and deleted["identity_id"] == obama["id"]
    assert deleted["faces_deleted"] == 0
    assert [e["event"] for e in filtered.wait_for(1)] == ["identity.created"]
    assert filtered.events()[0]["identity_id"] == obama["id"]


def test_only_a_snapshot_sink_gets_the_face_chip(
        http: httpx.Client, receivers: tuple[Receiver, Receiver], chips: Receiver,
        faces: Path) -> None:
    every, _ = receivers
    start, seen = len(every.acknowledged()), len(chips.acknowledged())
    person = http.post("/v1/identities", json={"name": "Joe Biden"}).json()
    assert http.post(f"/v1/identities/{person['id']}/faces",
                     files=photo(faces, "biden.jpg")).status_code == 201
    answer = http.post("/v1/identify", files=photo(faces, "biden.jpg"))
    (shot,) = chips.wait_for(seen + 1)[seen:]
    assert shot["event"] == "face.identified" and shot["identity_id"] == person["id"]
    chip = Image.open(io.BytesIO(base64.b64decode(shot["snapshot"])))
    assert (chip.format, chip.size) == ("JPEG", (150, 150))
    plain = every.wait_for(start + 3)[start + 2]
    assert plain["request_id"] == answer.headers["x-request-id"] == shot["request_id"]
    assert "snapshot" not in plain


def test_deliveries_are_signed_and_a_receiver_can_check_them(
        http: httpx.Client, receivers: tuple[Receiver, Receiver]) -> None:
    every, filtered = receivers
    start = len(every.acknowledged())
    http.post("/v1/identities", json={"name": "signed"})
    every.wait_for(start + 1)
    last = every.acknowledged()[-1]
    headers = {k.lower(): v for k, v in last.headers.items()}
    stamp = headers["x-facegate-timestamp"]
    assert headers["x-facegate-event"] == "identity.created"
    assert abs(int(stamp) - time.time()) < 60
    expected = hmac.new(SECRET.encode(), f"{stamp}.".encode() + last.body,
                        hashlib.sha256).hexdigest()
    assert headers["x-facegate-signature"] == f"t={stamp},v1={expected}"
    now = time.time()
    assert verify_signature(SECRET.encode(), headers["x-facegate-signature"], last.body, now=now)
    assert not verify_signature(b"wrong", headers["x-facegate-signature"], last.body, now=now)
    assert not verify_signature(SECRET.encode(), headers["x-facegate-signature"],
                                last.body + b" ", now=now)
    assert not verify_signature(SECRET.encode(), headers["x-facegate-signature"], last.body,
                                now=now + 3600)  # a replay an hour later
    unsigned = {k.lower(): v for k, v in filtered.acknowledged()[-1].headers.items()}
    assert "x-facegate-signature" not in unsigned


def test_a_receiver_that_fails_three_times_gets_every_event_once_in_order(
        http: httpx.Client, receivers: tuple[Receiver, Receiver], faces: Path) -> None:
    every, _ = receivers
    start = len(every.acknowledged())
    every.fail_first = 3
    answers = [http.post("/v1/identify", files=photo(faces, name), data={"camera": "door"})
               for name in ("obama.jpg", "biden.jpg", "obama3.jpg", "obama2.jpg")]
    assert all(r.status_code == 200 for r in answers)
    got = every.wait_for(start + 4)[start:]
    assert [e["request_id"] for e in got] == [r.headers["x-request-id"] for r in answers]
    assert len({e["id"] for e in every.events()}) == len(every.events())  # none twice
    refused = [r for r in every.received if not r.acknowledged]
    assert len(refused) == 3 and {r.payload["id"] for r in refused} == {got[0]["id"]}
    log = http.get("/v1/events/deliveries", params={"sink": "webhook:1", "limit": 4}).json()
    head = next(item for item in log["items"] if item["event_id"] == got[0]["id"])
    assert (head["status"], head["attempts"], head["last_result"]) == ("delivered", 4,
                                                                       "HTTP 204")
    assert head["payload"]["request_id"] == got[0]["request_id"]


def test_the_delivery_log_filters_and_the_test_send_answers(
        http: httpx.Client, receivers: tuple[Receiver, Receiver]) -> None:
    every, filtered = receivers
    everything = http.get("/v1/events/deliveries").json()
    assert everything["total"] >= 10 and everything["limit"] == 50
    second = http.get("/v1/events/deliveries", params={"sink": "webhook:2"}).json()
    assert second["total"] >= 1 and {i["event"] for i in second["items"]} == {
        "identity.created"}
    assert all(i["status"] == "delivered" for i in second["items"])
    assert http.get("/v1/events/deliveries", params={"status": "failed"}).json()["total"] == 0
    assert http.get("/v1/events/deliveries", params={"status": "nope"}).status_code == 422
    paged = http.get("/v1/events/deliveries", params={"limit": 2, "offset": 1}).json()
    assert [i["event_id"] for i in paged["items"]] == [
        i["event_id"] for i in everything["items"][1:3]]

    before = len(filtered.received)
    sent = http.post("/v1/events/test", json={"sink": "webhook:2"})
    assert sent.json() == {"results": [{"sink": "webhook:2", "delivered": True,
                                        "result": "HTTP 204", "error": None}]}
    assert filtered.received[before].payload["event"] == "test"  # the filter does not apply
    every.fail_first = 1
    both = http.post("/v1/events/test", json={}).json()["results"]
    assert [(r["sink"], r["delivered"]) for r in both] == [
        ("webhook:1", False), ("webhook:2", True), ("webhook:3", True)]
    assert both[0]["error"] == "HTTP 503"
    unknown = http.post("/v1/events/test", json={"sink": "webhook:9"})
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "VALIDATION_ERROR"


def test_liveness_and_training_send_their_events(
        http: httpx.Client, receivers: tuple[Receiver, Receiver], faces: Path,
        shared_faces: Path) -> None:
    every, _ = receivers
    start = len(every.acknowledged())
    folder = shared_faces / "blink" / "frames" / "liveportrait_d18_blink"
    frames = [("frames", (p.name, p.read_bytes(), "image/jpeg"))
              for p in sorted(folder.iterdir())]
    live = http.post("/v1/liveness/blink?camera=kiosk", files=frames)
    still = http.post("/v1/liveness/blink", files=frames[:1] * 12, data={"camera": "kiosk"})
    assert (live.json()["live"], still.json()["live"]) == (True, False)
    for name, photos in {"A": ("obama.jpg", "obama3.jpg"), "B": ("biden.jpg", "group6.jpg")
                         }.items():
        person = http.post("/v1/identities", json={"name": name}).json()
        for name_ in photos:
            http.post(f"/v1/identities/{person['id']}/faces", files=photo(faces, name_),
                      data={"multiple_faces": "largest"})
    job = http.post("/v1/train", json={"kind": "knn", "activate": False}).json()
    while (job := http.get(f"/v1/train/{job['id']}").json())["status"] in ("queued",
                                                                          "running"):
        time.sleep(0.1)
    got = every.wait_for(start + 9)[start:]
    decided = [e for e in got if e["event"] == "liveness.decided"]
    assert [(e["live"], e["check"], e["camera"]) for e in decided] == [
        (True, "blink", "kiosk"), (False, "blink", "kiosk")]
    assert decided[0]["reasons"] == [] and decided[1]["reasons"] == [
        r["code"] for r in still.json()["reasons"]] != []
    (finished,) = [e for e in every.wait_for(start + 9)[start:]
                   if e["event"] == "train.finished"]
    assert (finished["job_id"], finished["status"], finished["kind"]) == (
        job["id"], job["status"], "knn")
    assert finished["model_id"] == (job["model"] or {}).get("id")


def test_a_bad_camera_is_refused(http: httpx.Client, faces: Path) -> None:
    for sent in ({"data": {"camera": "front door"}}, {"data": {"camera": "x" * 65}},
                 {"params": {"camera": "../etc"}}):
        response = http.post("/v1/identify", files=photo(faces, "obama.jpg"), **sent)
        assert response.status_code == 422, sent
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_broken_sinks_are_reported_in_readyz_and_the_server_runs(
        tmp_path: Path, faces: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/hook"
    settings = settings_for(tmp_path, storage={"url": "memory://"}, events={
        "webhooks": [{"url": dead}], "mqtt": {"url": f"mqtt://127.0.0.1:{free_port()}"},
        "first_retry_s": 0.05, "max_retry_s": 0.1})
    server = LiveServer(settings).start()
    try:
        with server.client() as client:
            assert client.post("/v1/identities", json={"name": "x"}).status_code == 201
            ready: dict[str, Any] = {}
            for _ in range(100):
                ready = client.get("/readyz").json()
                if {"webhook:1", "mqtt"} <= ready["events"]["problems"].keys():
                    break
                time.sleep(0.05)
            assert ready["status"] == "ready"
            assert "Connection refused" in ready["events"]["problems"]["webhook:1"]
            assert "mqtt" in ready["events"]["problems"]
            assert ready["events"]["backlog"] == 1
            log = client.get("/v1/events/deliveries", params={"status": "failed"}).json()
            assert log["items"][0]["event"] == "identity.created"
            assert log["items"][0]["attempts"] >= 1
    finally:
        server.stop()


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()
