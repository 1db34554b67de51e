"""Events over MQTT from the user's side: identify, verify and enrol calls on a real server,
delivered through the outbox to a real Mosquitto and read by a real paho subscriber.

At least once, shown on the broker's side: a QoS 1 subscriber with a persistent session
(clean_session false, a fixed client id, the broker's persistence on) is subscribed before the
broker stops, so every message published after it comes back is queued for it whether or not
it has reconnected yet. While the broker is down, 20 identifies (two cameras) leave their events
in the outbox; once it is back, all 20 arrive, each once (by request id, and after a quiet
while nothing more), in request order per camera. The same after ``kill -9`` of the server with
its events still undelivered, and a restart on the same gallery.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import NO_CNN_FALLBACK, LiveServer, free_port, settings_for, spawn_server
from mqtt_broker import Broker, Received, Subscriber

PHOTOS = ["obama.jpg", "obama3.jpg", "biden.jpg"]
FACE_TOPICS = ["facegate/identified/#", "facegate/unknown"]


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    running = Broker(tmp_path_factory.mktemp("mosquitto")).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def live(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = settings_for(tmp_path_factory.mktemp("gallery"), events={
        "mqtt": {"url": broker.url}, "first_retry_s": 0.05, "max_retry_s": 0.5})
    server = LiveServer(settings).start()
    yield server
    server.stop()


def photo(faces: Path, name: str) -> dict[str, tuple[str, bytes]]:
    return {"image": (name, (faces / name).read_bytes())}


def ready(http: httpx.Client, timeout: float = 30) -> None:
    """Until /readyz reports no sink problem (the MQTT sink connected)."""
    deadline = time.monotonic() + timeout
    while (answer := http.get("/readyz")).status_code != 200 \
            or answer.json()["events"]["problems"]:
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.1)


def identify_many(http: httpx.Client, faces: Path, count: int) -> list[tuple[str, str]]:
    """``count`` identifies alternating two cameras: their (camera, request id) in order."""
    sent = []
    for n in range(count):
        camera = "door-a" if n % 2 == 0 else "door-b"
        answer = http.post("/v1/identify", files=photo(faces, PHOTOS[n % len(PHOTOS)]),
                           data={"camera": camera})
        assert answer.status_code == 200 and len(answer.json()["faces"]) == 1, answer.text
        sent.append((camera, answer.headers["X-Request-ID"]))
    return sent


def arrived_once_in_order(sub: Subscriber, sent: list[tuple[str, str]]) -> None:
    wanted = {request_id for _, request_id in sent}

    def ours() -> list[Received]:
        return [r for r in sub.received if r.json()["request_id"] in wanted]

    sub.wait_for(lambda _: len(ours()) >= len(sent), timeout=60)
    time.sleep(1.5)  # anything sent twice would be here by now
    got = [(r.json()["camera"], r.json()["request_id"]) for r in ours()]
    assert len(got) == len(sent) and set(got) == set(sent)
    for camera in ("door-a", "door-b"):
        assert [g for g in got if g[0] == camera] == [s for s in sent if s[0] == camera]
    assert all(r.qos == 1 for r in ours())


def test_identify_verify_enrol_reach_their_topics(http: httpx.Client, broker: Broker,
                                                  faces: Path) -> None:
    ready(http)
    with Subscriber(broker, ["facegate/#"]) as sub:
        obama = http.post("/v1/identities", json={"name": "Barack Obama"}).json()
        enrolled = http.post(f"/v1/identities/{obama['id']}/faces",
                             files=photo(faces, "obama2.jpg"))
        assert enrolled.status_code == 201, enrolled.text
        named = http.post("/v1/identify", files=photo(faces, "obama.jpg"),
                          data={"camera": "Front_Door"})
        stranger = http.post("/v1/identify?camera=garage", files=photo(faces, "biden.jpg"))
        verified = http.post("/v1/verify", files=photo(faces, "obama3.jpg"),
                             data={"identity_id": obama["id"], "camera": "desk"})
        assert [r.status_code for r in (named, stranger, verified)] == [200, 200, 200]
        [created] = sub.wait_topic("facegate/events/identity.created")
        assert created.json()["identity_id"] == obama["id"] and not created.retain
        [face] = sub.wait_topic("facegate/events/face.enrolled")
        assert face.json()["identity_id"] == obama["id"]
        [event] = sub.wait_topic("facegate/identified/barack-obama")
        body, answer = event.json(), named.json()["faces"][0]
        assert event.qos == 1 and not event.retain
        assert body["event"] == "face.identified" and body["camera"] == "Front_Door"
        assert body["request_id"] == named.headers["X-Request-ID"]
        assert body["identity_id"] == obama["id"] and body["name"] == "Barack Obama"
        assert body["distance"] == answer["identity"]["distance"]
        assert body["box"] == answer["box"] and body["time"].endswith("Z")
        [camera] = sub.wait_topic("facegate/cameras/front-door")
        assert camera.json() == body
        [unknown] = sub.wait_topic("facegate/unknown")
        assert unknown.json()["camera"] == "garage"
        assert unknown.json()["request_id"] == stranger.headers["X-Request-ID"]
        assert sub.wait_topic("facegate/cameras/garage")[0].json()["event"] == "face.unknown"
        [decided] = sub.wait_topic("facegate/events/verify.decided")
        assert decided.json()["camera"] == "desk"
        assert decided.json()["request_id"] == verified.headers["X-Request-ID"]
    # the subscriber can have the message before the broker's PUBACK reaches the deliverer,
    # which marks it delivered only then: wait for that (a few seconds at most)
    deadline = time.monotonic() + 15
    while True:
        log = http.get("/v1/events/deliveries", params={"sink": "mqtt", "limit": 1}).json()
        [last] = log["items"]
        if last["status"] == "delivered" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert last["event"] == "verify.decided" and last["status"] == "delivered"
    # the count is of the deliverer's batch the event went in (it may share one with others)
    assert re.fullmatch(r"acknowledged: \d+ message\(s\) at QoS 1", last["last_result"])
    with Subscriber(broker, ["facegate/cameras/+", "facegate/available"]) as late:
        [kept] = late.wait_topic("facegate/cameras/front-door")
        assert kept.retain and kept.json()["request_id"] == named.headers["X-Request-ID"]
        assert late.wait_topic("facegate/available")[0].payload == b"online"


def test_broker_down_then_back_all_20_arrive_once_in_order(http: httpx.Client, broker: Broker,
                                                           faces: Path) -> None:
    ready(http)
    with Subscriber(broker, FACE_TOPICS, client_id="e2e-restart", persistent=True) as sub:
        broker.stop()
        sent = identify_many(http, faces, 20)
        assert not [r for r in sub.received
                    if r.json()["request_id"] in {rid for _, rid in sent}]
        broker.start()
        arrived_once_in_order(sub, sent)
    ready(http)


def test_kill_9_with_events_in_the_outbox_then_restart(broker: Broker, faces: Path,
                                                       tmp_path: Path) -> None:
    env = {**NO_CNN_FALLBACK, "FACEGATE_EVENTS__MQTT__URL": broker.url,
           "FACEGATE_EVENTS__FIRST_RETRY_S": "0.05", "FACEGATE_EVENTS__MAX_RETRY_S": "0.5"}
    port = free_port()
    with Subscriber(broker, FACE_TOPICS, client_id="e2e-kill", persistent=True) as sub:
        broker.stop()
        server = spawn_server(tmp_path, port, env=env)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                sent = identify_many(client, faces, 6)
                backlog = client.get("/v1/events/deliveries", params={"status": "pending"})
                assert backlog.status_code == 200 and backlog.json()["total"] >= 6, backlog.text
            os.kill(server.pid, signal.SIGKILL)
            server.wait(10)
        finally:
            server.kill()
            server.wait()
            if server.stderr:
                server.stderr.close()
        broker.start()
        again = spawn_server(tmp_path, port, env=env)
        try:
            arrived_once_in_order(sub, sent)
        finally:
            again.terminate()
            again.wait(30)
            if again.stderr:
                again.stderr.close()
