"""A real MQTT broker for tests (Debian's Eclipse Mosquitto, installed by scripts/test) and a
real paho subscriber that records what it receives.

``Broker`` writes its configuration at test time, listens on a free loopback port and can be
stopped, killed and started again on the same port; persistence (retained messages, persistent
sessions and their queued messages) lives in its temporary folder and survives a restart.
"""

from __future__ import annotations

import getpass
import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

MOSQUITTO = Path("/usr/sbin/mosquitto")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Broker:
    """``mosquitto -c <folder>/mosquitto.conf`` on ``127.0.0.1:<port>``."""

    def __init__(self, folder: Path, *, port: int | None = None, persistence: bool = True,
                 extra: str = "") -> None:
        self.folder = folder
        self.port = port or free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        folder.mkdir(parents=True, exist_ok=True)
        self.log = folder / "mosquitto.log"
        self.config = folder / "mosquitto.conf"
        # As root, mosquitto would switch to the user "mosquitto", who cannot read tmp_path.
        lines = [f"user {getpass.getuser()}", f"listener {self.port} 127.0.0.1",
                 "allow_anonymous true",
                 f"persistence {'true' if persistence else 'false'}",
                 f"persistence_location {folder}/", "autosave_interval 1",
                 f"log_dest file {self.log}", "log_type error", "log_type warning"]
        self.config.write_text("\n".join(lines) + "\n" + extra)
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Broker:
        if not MOSQUITTO.is_file():
            raise RuntimeError(f"{MOSQUITTO} is missing: scripts/test installs Debian's mosquitto")
        self._proc = subprocess.Popen([str(MOSQUITTO), "-c", str(self.config)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            if self._proc.poll() is not None:
                error = self._proc.communicate()[1].decode()
                logged = self.log.read_text() if self.log.is_file() else ""
                raise RuntimeError(f"mosquitto exited: {error} {logged}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("mosquitto did not listen within 10 s") from None
                time.sleep(0.05)

    def pid(self) -> int:
        assert self._proc is not None, "the broker is not running"
        return self._proc.pid

    def stop(self) -> None:
        """A clean stop (SIGTERM: persistence written)."""
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
            if self._proc.stderr:
                self._proc.stderr.close()
            self._proc = None

    def kill(self) -> None:
        """SIGKILL: whatever the broker had not written or read is gone."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=10)
            if self._proc.stderr:
                self._proc.stderr.close()
            self._proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    qos: int
    retain: bool

    def json(self) -> Any:
        return json.loads(self.payload)


class Subscriber:
    """A paho client subscribed to ``topics`` at QoS 1, recording every message it gets.

    ``persistent=True`` keeps a session on the broker (clean_session False, fixed client id):
    messages published while it is away are queued for it and delivered when it comes back.
    """

    def __init__(self, broker: Broker, topics: list[str], *, client_id: str | None = None,
                 persistent: bool = False) -> None:
        self.broker = broker
        self.topics = topics
        self.received: list[Received] = []
        self._changed = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or "",
                                  protocol=MQTTProtocolVersion.MQTTv311,
                                  clean_session=not persistent)
        self.client.reconnect_delay_set(min_delay=0.2, max_delay=1)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def __enter__(self) -> Subscriber:
        self.client.connect_async("127.0.0.1", self.broker.port, keepalive=30)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("the subscriber did not subscribe within 10 s")
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def kill(self) -> None:
        """Stop the network loop and drop the socket without DISCONNECT."""
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        client.subscribe([(topic, 1) for topic in self.topics])

    def _on_subscribe(self, *args: Any) -> None:
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._changed:
            self.received.append(Received(message.topic, bytes(message.payload), message.qos,
                                          bool(message.retain)))
            self._changed.notify_all()

    def on(self, topic: str) -> list[Received]:
        with self._changed:
            return [r for r in self.received if r.topic == topic]

    def wait_for(self, done: Callable[[list[Received]], bool], timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done(self.received):
                left = deadline - time.monotonic()
                if left <= 0:
                    topics = [(r.topic, r.payload[:80]) for r in self.received]
                    raise AssertionError(f"not received within {timeout} s; got {topics}")
                self._changed.wait(left)

    def wait_topic(self, topic: str, count: int = 1, timeout: float = 10) -> list[Received]:
        self.wait_for(lambda got: sum(r.topic == topic for r in got) >= count, timeout)
        return self.on(topic)
