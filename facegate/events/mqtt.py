"""The MQTT sink: events published to a broker with paho-mqtt, acknowledged before ``deliver``
returns (docs/operations.md, MQTT; what is published: events/mqtt_topics.py).

At least once: ``deliver`` returns only when the broker acknowledged every message of the event
(PUBACK at QoS 1); anything else is a ``DeliveryError`` and the outbox's deliverer tries again
later. A message that was sent but not acknowledged stays in paho's queue, which sends it again
(DUP) after a reconnect; the retry of that event waits for it instead of publishing a second
copy, and skips the event's messages already acknowledged. A retained ``<prefix>/available``
says ``online`` while connected; the broker publishes the last will ``offline`` when the
connection is lost without a goodbye, and ``close`` says ``offline`` itself.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import sys
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from facegate.config_events import MqttSettings
from facegate.events.mqtt_topics import Message, camera_slug, discovery, messages_for
from facegate.events.types import DeliveryError, Event

logger = logging.getLogger(__name__)

#: Events whose messages are remembered after a failed delivery (oldest forgotten first).
PENDING_MAX = 1000
#: Longest wait between two connection attempts (1 s, doubling up to this).
RECONNECT_MAX_S = 10
#: How often a waiting ``deliver`` looks whether the connection is still up.
_POLL_S = 0.2
_WILDCARDS = ("+", "#", "\x00")


def _bad_topic_root(root: str) -> bool:
    return not root.strip("/") or any(char in root for char in _WILDCARDS)


class MqttSink:
    """Publishes events to an MQTT broker (``events.mqtt``); see the module docstring."""

    name = "mqtt"
    #: What the last successful delivery was (the outbox's delivery log shows it).
    last_result: str | None = None

    def __init__(self, options: MqttSettings) -> None:
        self._options = options
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._closing = False
        self._started = False
        self._pending: OrderedDict[str, dict[str, mqtt.MQTTMessageInfo]] = OrderedDict()
        self._announced: set[str] = set()
        parts = urlsplit(options.url or "")
        self._tls = parts.scheme == "mqtts"
        self._host = parts.hostname or ""
        self._config_problem: str | None = None
        try:
            self._port = parts.port or (8883 if self._tls else 1883)
        except ValueError:
            self._port = 0
            self._config_problem = "events.mqtt.url has no valid port"
        if not self._host:
            self._config_problem = "events.mqtt.url names no broker"
        for setting in ("topic_prefix", "discovery_prefix"):
            if _bad_topic_root(getattr(options, setting)):
                self._config_problem = f"events.mqtt.{setting} must be a topic without + or #"
        self._where = f"{self._host}:{self._port}"
        self._problem: str | None = self._config_problem or f"connecting to {self._where}"
        self._available = f"{options.topic_prefix.strip('/')}/available"
        self._client = self._make_client(parts.username, parts.password)

    def _make_client(self, url_user: str | None, url_password: str | None) -> mqtt.Client:
        options = self._options
        client = mqtt.Client(CallbackAPIVersion.VERSION2,
                             client_id=options.client_id or f"facegate-{uuid.uuid4().hex[:12]}",
                             protocol=MQTTProtocolVersion.MQTTv311, clean_session=True)
        user = options.username or (unquote(url_user) if url_user else None)
        if options.password is not None:
            password: str | None = options.password.get_secret_value()
        else:
            password = unquote(url_password) if url_password else None
        if user is not None:
            client.username_pw_set(user, password)
        client.will_set(self._available, "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=RECONNECT_MAX_S)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        return client

    # --- the Sink protocol ---------------------------------------------------------------

    def wants(self, event: Event) -> bool:
        return True

    def start(self) -> None:
        """Connect in the background; an unreachable broker or bad TLS file is a ``problem()``."""
        if self._config_problem or self._started:
            return
        try:
            if self._tls:
                self._set_tls()
            self._client.connect_async(self._host, self._port, self._options.keepalive_s)
            self._client.loop_start()
        except (OSError, ValueError) as exc:
            self._problem = f"cannot connect to the MQTT broker at {self._where}: {exc}"
            logger.warning("MQTT sink: %s", self._problem)
            return
        self._started = True

    def _set_tls(self) -> None:
        ca_file = str(self._options.ca_file) if self._options.ca_file else None
        if self._options.tls_insecure:
            self._client.tls_set(ca_certs=ca_file, cert_reqs=ssl.CERT_NONE)
            self._client.tls_insecure_set(True)
        else:
            self._client.tls_set(ca_certs=ca_file, cert_reqs=ssl.CERT_REQUIRED)

    def problem(self) -> str | None:
        if self._config_problem:
            return self._config_problem
        return None if self._connected.is_set() else self._problem

    def deliver(self, event: Event) -> None:
        _, error = self.deliver_many([event])
        if error is not None:
            raise error

    def deliver_many(self, events: Sequence[Event]) -> tuple[int, Exception | None]:
        """Publish every event's messages, then wait for their acknowledgements in order (one
        round of waiting for the batch, not one per event)."""
        if not self._connected.is_set():
            return 0, DeliveryError(f"not connected to the MQTT broker ({self.problem()})")
        sent: list[tuple[str, dict[str, mqtt.MQTTMessageInfo], str | None]] = []
        failure: DeliveryError | None = None
        for event in events:
            try:
                sent.append(self._send(event))
            except DeliveryError as exc:
                failure = exc  # what was published before it is still waited for below
                break
        deadline = time.monotonic() + self._options.timeout_s
        for done, (_, infos, announced) in enumerate(sent):
            try:
                self._wait(infos.values(), deadline)
            except DeliveryError as exc:
                for later_id, later_infos, _ in sent[done:]:
                    self._remember(later_id, later_infos)
                return done, exc
            if announced:
                with self._lock:
                    self._announced.add(announced)
        count = sum(len(infos) for _, infos, _ in sent)
        self.last_result = f"acknowledged: {count} message(s) at QoS {self._options.qos}"
        return len(sent), failure

    def _send(self, event: Event) -> tuple[str, dict[str, mqtt.MQTTMessageInfo], str | None]:
        """Publish the event's messages not yet acknowledged in an earlier attempt; its id, the
        messages in flight and the camera whose discovery config went with it."""
        messages = messages_for(event, self._options)
        camera = camera_slug(event) if event.type in ("face.identified",
                                                       "face.unknown") else None
        announce = camera if (self._options.home_assistant and camera
                              and camera not in self._announced) else None
        if announce:
            messages.insert(0, discovery(announce, self._options))
        with self._lock:
            infos = self._pending.pop(event.id, {})
        try:
            for message in messages:
                if message.topic not in infos:
                    infos[message.topic] = self._publish(message)
        except DeliveryError:
            self._remember(event.id, infos)
            raise
        return event.id, infos, announce

    def close(self) -> None:
        self._closing = True
        if not self._started:
            return
        if self._connected.is_set():
            info = self._client.publish(self._available, "offline", qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(2.0)
        self._client.disconnect()
        self._client.loop_stop()
        self._started = False

    # --- publishing ----------------------------------------------------------------------

    def _publish(self, message: Message) -> mqtt.MQTTMessageInfo:
        qos = self._options.qos
        info = self._client.publish(message.topic, message.payload, qos=qos,
                                    retain=message.retain)
        if info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN and qos > 0:
            # The connection fell between the check and the send: paho keeps a QoS 1/2 message
            # queued and sends it after the reconnect, so this delivery (or its retry) waits
            # for that acknowledgement instead of sending a copy.
            info.rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        elif info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise DeliveryError(f"MQTT publish failed: {mqtt.error_string(info.rc)}")
        return info

    def _wait(self, infos: Any, deadline: float) -> None:
        for info in infos:
            while True:
                try:
                    if info.is_published():
                        break
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise DeliveryError(
                            f"the MQTT broker at {self._where} did not acknowledge within "
                            f"{self._options.timeout_s:g} s")
                    if not self._connected.is_set():
                        raise DeliveryError(
                            f"lost the connection to the MQTT broker ({self.problem()})")
                    info.wait_for_publish(min(_POLL_S, remaining))
                except (RuntimeError, ValueError) as exc:
                    raise DeliveryError(f"MQTT publish failed: {exc}") from None

    def _remember(self, event_id: str, infos: dict[str, mqtt.MQTTMessageInfo]) -> None:
        with self._lock:
            self._pending[event_id] = infos
            while len(self._pending) > PENDING_MAX:
                self._pending.popitem(last=False)

    # --- paho callbacks (its network thread) ---------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any,
                    reason_code: ReasonCode, properties: Any) -> None:
        if reason_code.is_failure:
            self._problem = (f"the MQTT broker at {self._where} refused the connection: "
                             f"{reason_code}")
            logger.warning("MQTT sink: %s", self._problem)
            return
        logger.info("MQTT sink: connected to %s", self._where)
        client.publish(self._available, "online", qos=1, retain=True)
        with self._lock:
            cameras = sorted(self._announced)
        for camera in cameras:
            config = discovery(camera, self._options)
            client.publish(config.topic, config.payload, qos=1, retain=True)
        self._problem = None
        self._connected.set()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        exc = sys.exc_info()[1]  # paho calls this from its ``except OSError`` block
        if isinstance(exc, ssl.SSLError):
            self._problem = f"TLS with the MQTT broker at {self._where} failed: {exc}"
        elif isinstance(exc, OSError):
            reason = exc.strerror or str(exc) or type(exc).__name__
            self._problem = f"cannot reach the MQTT broker at {self._where}: {reason}"
        else:
            self._problem = f"cannot connect to the MQTT broker at {self._where}"
        logger.warning("MQTT sink: %s", self._problem)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any,
                       reason_code: ReasonCode, properties: Any) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        if self._closing or not was_connected:
            return
        why = "" if reason_code.value == 128 else f" ({reason_code})"  # 128: the socket closed
        self._problem = f"lost the connection to the MQTT broker at {self._where}{why}"
        logger.warning("MQTT sink: %s; reconnecting", self._problem)
