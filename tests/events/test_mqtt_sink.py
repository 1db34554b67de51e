"""The MQTT sink against a real Mosquitto broker and a real paho subscriber: topics, payloads,
QoS 1, retained messages, the last will, Home Assistant discovery, the Double Take layout,
credentials, TLS, and what happens while the broker is down or stalls."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from mqtt_broker import Broker, Subscriber

from facegate.config_events import MqttSettings
from facegate.events.mqtt import MqttSink
from facegate.events.mqtt_topics import slug
from facegate.events.types import DeliveryError, Event
from facegate.tls import self_signed

REPO = Path(__file__).resolve().parents[2]
BOX = {"left": 10, "top": 20, "right": 110, "bottom": 140, "width": 100, "height": 120}


def identified(event_id: str, *, name: str = "Barack Obama", camera: str | None = "Front Door",
               snapshot: bytes | None = None) -> Event:
    return Event(id=event_id, type="face.identified", time=datetime.now(UTC), camera=camera,
                 request_id=f"req-{event_id}", snapshot=snapshot,
                 data={"identity_id": "a1b2c3", "name": name, "distance": 0.3,
                       "threshold": 0.6, "box": BOX})


def unknown(event_id: str, *, camera: str | None = "Front Door") -> Event:
    return Event(id=event_id, type="face.unknown", time=datetime.now(UTC), camera=camera,
                 request_id=f"req-{event_id}",
                 data={"distance": 0.8, "threshold": 0.6, "box": BOX,
                       "nearest": {"identity_id": "a1b2c3", "name": "Barack Obama"}})


def connected(sink: MqttSink, timeout: float = 10) -> MqttSink:
    deadline = time.monotonic() + timeout
    while sink.problem() is not None:
        assert time.monotonic() < deadline, sink.problem()
        time.sleep(0.02)
    return sink


def reported(sink: MqttSink, text: str, timeout: float = 15) -> str:
    """The sink's problem once it says ``text`` (its network thread reports it)."""
    deadline = time.monotonic() + timeout
    while text not in (problem := sink.problem() or ""):
        assert time.monotonic() < deadline, f"{text!r} not in {problem!r}"
        time.sleep(0.05)
    return problem


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    running = Broker(tmp_path_factory.mktemp("mosquitto")).start()
    yield running
    running.stop()


@pytest.fixture
def sink_for(broker: Broker) -> Iterator[Any]:
    made: list[MqttSink] = []

    def make(**options: Any) -> MqttSink:
        sink = MqttSink(MqttSettings(**{"url": broker.url, **options}))
        sink.start()
        made.append(sink)
        return sink

    yield make
    for sink in made:
        sink.close()


def test_slugs_are_lowercase_ascii_bounded_and_never_wildcards() -> None:
    assert slug("José Ñúñez") == "jose-nunez"
    assert slug("front/door+#1") == "front-door-1"
    assert slug("王伟") == "unnamed"
    assert slug("王伟", fallback="a1b2") == "a1b2"
    assert len(slug("x" * 500)) == 64


def test_identified_unknown_and_liveness_topics_payloads_and_qos(broker: Broker,
                                                                  sink_for: Any) -> None:
    sink = connected(sink_for(topic_prefix="fg1"))
    with Subscriber(broker, ["fg1/#"]) as sub:
        started = time.monotonic()
        sink.deliver(identified("e1"))
        assert time.monotonic() - started < 2
        sink.deliver(unknown("e2", camera=None))
        sink.deliver(Event(id="e3", type="liveness.decided", time=datetime.now(UTC),
                           camera="desk", request_id="req-e3",
                           data={"live": True, "reasons": []}))
        sink.deliver(Event(id="e4", type="identity.created", time=datetime.now(UTC),
                           camera=None, request_id="req-e4",
                           data={"identity_id": "a1b2c3", "name": "Barack Obama"}))
        sub.wait_topic("fg1/events/identity.created")
        [named] = sub.on("fg1/identified/barack-obama")
        assert named.qos == 1 and not named.retain
        body = named.json()
        assert body["event"] == "face.identified" and body["request_id"] == "req-e1"
        assert body["camera"] == "Front Door" and body["identity_id"] == "a1b2c3"
        assert body["name"] == "Barack Obama" and body["distance"] == 0.3
        assert body["box"] == BOX and body["time"].endswith("Z") and "snapshot" not in body
        [camera] = sub.on("fg1/cameras/front-door")
        assert camera.json() == body
        [stranger] = sub.on("fg1/unknown")
        assert stranger.json()["event"] == "face.unknown" and stranger.json()["camera"] is None
        [live] = sub.on("fg1/liveness")
        assert live.json()["live"] is True and live.json()["camera"] == "desk"
        topics = {r.topic for r in sub.received}
        assert "fg1/cameras/desk" not in topics  # liveness has no per-camera topic
        assert not any(t.startswith("double-take/") for t in topics)
    # The camera topic is retained: the last result there reaches a later subscriber.
    sink.deliver(unknown("e5"))
    with Subscriber(broker, ["fg1/cameras/+", "fg1/available"]) as late:
        [kept] = late.wait_topic("fg1/cameras/front-door")
        assert kept.retain and kept.json()["event"] == "face.unknown" and kept.json()["id"] == "e5"
        [online] = late.wait_topic("fg1/available")
        assert online.retain and online.payload == b"online"


def test_snapshot_only_when_asked(broker: Broker, sink_for: Any) -> None:
    chip = b"\xff\xd8\xff\xe0 a jpeg chip"
    plain = connected(sink_for(topic_prefix="fg2"))
    with_chips = connected(sink_for(topic_prefix="fg3", snapshot=True))
    with Subscriber(broker, ["fg2/identified/#", "fg3/identified/#"]) as sub:
        plain.deliver(identified("s1", snapshot=chip))
        with_chips.deliver(identified("s2", snapshot=chip))
        with_chips.deliver(identified("s3", snapshot=None))
        sub.wait_for(lambda got: len(got) == 3)
        [off] = sub.on("fg2/identified/barack-obama")
        assert "snapshot" not in off.json()
        on = [r.json() for r in sub.on("fg3/identified/barack-obama")]
        assert base64.b64decode(on[0]["snapshot"]) == chip and "snapshot" not in on[1]


def test_available_online_and_offline_on_close(broker: Broker) -> None:
    sink = connected(_started("fg4", broker))
    with Subscriber(broker, ["fg4/available"]) as sub:
        [first] = sub.wait_topic("fg4/available")
        assert first.payload == b"online" and first.retain
        sink.close()
        [_, last] = sub.wait_topic("fg4/available", count=2)
        assert last.payload == b"offline"
    with Subscriber(broker, ["fg4/available"]) as late:
        [kept] = late.wait_topic("fg4/available")
        assert kept.payload == b"offline" and kept.retain


def _started(prefix: str, broker: Broker) -> MqttSink:
    sink = MqttSink(MqttSettings(url=broker.url, topic_prefix=prefix))
    sink.start()
    return sink


def test_last_will_offline_when_the_publisher_dies(broker: Broker) -> None:
    script = ("import sys, time\n"
              "from facegate.config_events import MqttSettings\n"
              "from facegate.events.mqtt import MqttSink\n"
              f"sink = MqttSink(MqttSettings(url={broker.url!r}, topic_prefix='fg5'))\n"
              "sink.start()\n"
              "while sink.problem(): time.sleep(0.02)\n"
              "print('connected', flush=True)\n"
              "time.sleep(60)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"connected\n"
        with Subscriber(broker, ["fg5/available"]) as sub:
            [online] = sub.wait_topic("fg5/available")
            assert online.payload == b"online" and online.retain
            os.kill(child.pid, signal.SIGKILL)
            child.wait(10)
            [_, will] = sub.wait_topic("fg5/available", count=2, timeout=10)
            assert will.payload == b"offline"
    finally:
        child.kill()
        child.wait()
        if child.stdout:
            child.stdout.close()
    with Subscriber(broker, ["fg5/available"]) as late:
        [kept] = late.wait_topic("fg5/available")
        assert kept.payload == b"offline" and kept.retain


def test_home_assistant_discovery_once_per_camera(broker: Broker, sink_for: Any) -> None:
    sink = connected(sink_for(topic_prefix="fg6", home_assistant=True, discovery_prefix="ha6"))
    with Subscriber(broker, ["ha6/#", "fg6/cameras/#"]) as sub:
        sink.deliver(identified("h1", camera="Front Door"))
        sink.deliver(unknown("h2", camera="Front Door"))
        sink.deliver(identified("h3", camera="garage"))
        sink.deliver(identified("h4", camera=None))
        sub.wait_topic("fg6/cameras/garage")
        topic = "ha6/sensor/facegate_front-door/config"
        [config] = sub.on(topic)
        assert len(sub.on("ha6/sensor/facegate_garage/config")) == 1
        assert {r.topic for r in sub.received if r.topic.startswith("ha6/")} == {
            topic, "ha6/sensor/facegate_garage/config"}
        body = config.json()
        assert body["state_topic"] == "fg6/cameras/front-door"
        assert body["json_attributes_topic"] == "fg6/cameras/front-door"
        assert body["availability_topic"] == "fg6/available"
        assert body["unique_id"] == "facegate_front-door"
        assert "value_json.name" in body["value_template"]
        assert body["device"]["identifiers"] == ["facegate_front-door"]
    with Subscriber(broker, ["ha6/#"]) as late:
        [kept] = late.wait_topic(topic)
        assert kept.retain


def test_double_take_layout(broker: Broker, sink_for: Any) -> None:
    sink = connected(sink_for(topic_prefix="fg7", double_take=True))
    with Subscriber(broker, ["double-take/#"]) as sub:
        sink.deliver(identified("d1", name="David", camera="Living Room"))
        sink.deliver(unknown("d2", camera="Living Room"))
        sub.wait_topic("double-take/matches/unknown")
        sub.wait_topic("double-take/cameras/living-room", count=2)
        [match] = sub.on("double-take/matches/david")
        body = match.json()
        assert body["id"] == "d1" and body["camera"] == "Living Room"
        assert body["match"]["name"] == "david" and body["match"]["match"] is True
        assert body["match"]["confidence"] == 75.0
        assert body["match"]["box"] == {"top": 20, "left": 10, "width": 100, "height": 120}
        [stranger] = sub.on("double-take/matches/unknown")
        assert stranger.json()["unknown"]["match"] is False
        assert stranger.json()["unknowns"] == [stranger.json()["unknown"]]
        first, last = sub.on("double-take/cameras/living-room")
        assert first.json()["matches"][0]["name"] == "david" and first.json()["unknowns"] == []
        assert last.json()["counts"] == {"person": 1, "match": 0, "miss": 0, "unknown": 1}
    with Subscriber(broker, ["double-take/cameras/#"]) as late:
        [kept] = late.wait_topic("double-take/cameras/living-room")
        assert kept.retain and kept.json()["id"] == "d2"


def test_broker_down_fails_fast_then_reconnects(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "b").start()
    sink = connected(_started("fg8", broker))
    try:
        broker.stop()
        deadline = time.monotonic() + 5
        while sink.problem() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        started = time.monotonic()
        with pytest.raises(DeliveryError, match="not connected"):
            sink.deliver(identified("b1"))
        assert time.monotonic() - started < 0.5
        reported(sink, "cannot reach the MQTT broker at 127.0.0.1")  # a reconnect failed
        broker.start()
        connected(sink, timeout=40)
        with Subscriber(broker, ["fg8/identified/#"]) as sub:
            sink.deliver(identified("b1"))
            [again] = sub.wait_topic("fg8/identified/barack-obama")
            assert again.json()["id"] == "b1"
    finally:
        sink.close()
        broker.stop()


def test_unreachable_broker_never_raises_at_start() -> None:
    from mqtt_broker import free_port

    sink = MqttSink(MqttSettings(url=f"mqtt://127.0.0.1:{free_port()}"))
    sink.start()
    try:
        reported(sink, "cannot reach the MQTT broker")
        with pytest.raises(DeliveryError):
            sink.deliver(identified("u1"))
    finally:
        sink.close()


def test_a_stalled_broker_times_out_and_the_retry_sends_no_second_copy(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "b").start()
    sink = MqttSink(MqttSettings(url=broker.url, topic_prefix="fg9", timeout_s=0.5))
    sink.start()
    connected(sink)
    try:
        with Subscriber(broker, ["fg9/identified/#"]) as sub:
            pid = broker.pid()
            os.kill(pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                with pytest.raises(DeliveryError, match="did not acknowledge"):
                    sink.deliver(identified("t1", camera=None))
                assert time.monotonic() - started < 2
            finally:
                os.kill(pid, signal.SIGCONT)
            # The unacknowledged message was kept (not dropped); the retry waits for it.
            sink.deliver(identified("t1", camera=None))
            sub.wait_topic("fg9/identified/barack-obama")
            time.sleep(0.5)
            assert len(sub.on("fg9/identified/barack-obama")) == 1
    finally:
        sink.close()
        broker.stop()


def test_an_unacknowledged_message_is_sent_again_after_a_reconnect_once(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "b").start()
    sink = MqttSink(MqttSettings(url=broker.url, topic_prefix="fg10", timeout_s=0.5))
    sink.start()
    try:
        with Subscriber(broker, ["fg10/identified/#"], client_id="resend", persistent=True) as sub:
            broker.restart()  # a clean stop writes the subscriber's session to disk
            connected(sink, timeout=30)
            os.kill(broker.pid(), signal.SIGSTOP)
            with pytest.raises(DeliveryError, match="did not acknowledge"):
                sink.deliver(identified("r1", camera=None))
            broker.kill()  # it never read the message: no PUBACK will ever come from it
            broker.start()
            connected(sink, timeout=30)
            sink.deliver(identified("r1", camera=None))  # the retry: paho's resent copy
            [got] = sub.wait_topic("fg10/identified/barack-obama", timeout=15)
            time.sleep(1.0)
            assert got.json()["id"] == "r1"
            assert len(sub.on("fg10/identified/barack-obama")) == 1
    finally:
        sink.close()
        broker.stop()


def test_credentials_from_url_or_settings_and_refusal(tmp_path: Path) -> None:
    folder = tmp_path / "auth"
    folder.mkdir()
    passwords = folder / "passwords"
    subprocess.run(["/usr/bin/mosquitto_passwd", "-b", "-c", str(passwords), "cam", "s3cret:@"],
                   check=True, capture_output=True)
    broker = Broker(folder, extra=f"password_file {passwords}\n")
    broker.config.write_text(broker.config.read_text().replace("allow_anonymous true",
                                                               "allow_anonymous false"))
    broker.start()
    anonymous = MqttSink(MqttSettings(url=broker.url))
    by_url = MqttSink(MqttSettings(url=f"mqtt://cam:s3cret%3A%40@127.0.0.1:{broker.port}"))
    by_settings = MqttSink(MqttSettings(url=broker.url, username="cam", password="s3cret:@"))
    wrong = MqttSink(MqttSettings(url=broker.url, username="cam", password="nope"))
    sinks = [anonymous, by_url, by_settings, wrong]
    try:
        for sink in sinks:
            sink.start()
        connected(by_url)
        connected(by_settings)
        reported(anonymous, "refused the connection: Not authorized")
        assert "nope" not in reported(wrong, "refused the connection")
        by_url.deliver(identified("c1"))
        with pytest.raises(DeliveryError):
            wrong.deliver(identified("c1"))
    finally:
        for sink in sinks:
            sink.close()
        broker.stop()


# paho-mqtt 2.2 does not close the TLS socket whose handshake failed (client.py
# _ssl_wrap_socket); the garbage collector does, with a ResourceWarning.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_mqtts_with_ca_file_insecure_and_unverified(tmp_path: Path) -> None:
    from mqtt_broker import free_port

    pair = self_signed(tmp_path / "tls", ["127.0.0.1", "localhost"])
    port = free_port()
    broker = Broker(tmp_path / "b", extra=(f"listener {port} 127.0.0.1\ncertfile {pair.cert}\n"
                                           f"keyfile {pair.key}\n")).start()
    url = f"mqtts://127.0.0.1:{port}"
    trusted = MqttSink(MqttSettings(url=url, ca_file=pair.cert, topic_prefix="tls"))
    insecure = MqttSink(MqttSettings(url=url, tls_insecure=True, topic_prefix="tls2"))
    untrusted = MqttSink(MqttSettings(url=url, topic_prefix="tls3"))
    sinks = [trusted, insecure, untrusted]
    try:
        for sink in sinks:
            sink.start()
        with Subscriber(broker, ["tls/#", "tls2/#"]) as sub:
            connected(trusted).deliver(identified("x1"))
            connected(insecure).deliver(identified("x2"))
            sub.wait_topic("tls/identified/barack-obama")
            sub.wait_topic("tls2/identified/barack-obama")
        assert "certificate verify failed" in reported(untrusted, "TLS with the MQTT broker")
    finally:
        for sink in sinks:
            sink.close()
        broker.stop()


def test_misconfigured_prefix_is_a_problem_not_a_crash() -> None:
    sink = MqttSink(MqttSettings(url="mqtt://127.0.0.1:1", topic_prefix="a/+/b"))
    sink.start()
    assert "topic_prefix" in (sink.problem() or "")
    with pytest.raises(DeliveryError):
        sink.deliver(identified("m1"))
    sink.close()
