"""Settings sections of metrics and events: ``/metrics`` and the event sinks (MQTT, webhooks)
(built into ``config.Settings``, docs/operations.md). Imports nothing from facegate."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

#: Every event type there is (facegate.events.types uses the same tuple).
EVENT_TYPES: tuple[str, ...] = (
    "face.identified", "face.unknown", "verify.decided", "liveness.decided",
    "identity.created", "identity.updated", "identity.deleted",
    "face.enrolled", "face.deleted", "train.finished",
)


class MetricsSettings(BaseModel):
    """``GET /metrics`` in the Prometheus text format."""

    #: Serve ``/metrics`` at all.
    enabled: bool = True
    #: 0: on the API's own port, guarded like the API (the ``metrics`` scope when access is
    #: required, open on an open loopback server). A port: served there instead, without a key,
    #: on ``host`` only.
    port: int = Field(default=0, ge=0, le=65535)
    host: str = "127.0.0.1"


class MqttSettings(BaseModel):
    """The MQTT sink: off until ``url`` is set."""

    model_config = ConfigDict(hide_input_in_errors=True)

    #: ``mqtt://host:port`` or ``mqtts://host:port`` (TLS); user and password may be in it
    #: (``mqtt://user:pass@host``) or below.
    url: str | None = None
    topic_prefix: str = "facegate"
    username: str | None = None
    password: SecretStr | None = None
    client_id: str | None = None
    #: CA bundle (PEM) for ``mqtts://``; unset: the system's.
    ca_file: Path | None = None
    #: ``mqtts://`` without checking the broker's certificate (testing only).
    tls_insecure: bool = False
    qos: Literal[0, 1, 2] = 1
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    #: A delivery not acknowledged (PUBACK) within this fails and is retried by the deliverer.
    timeout_s: float = Field(default=10.0, gt=0.0, le=300.0)
    #: Home Assistant MQTT discovery: a sensor per camera with the last person seen.
    home_assistant: bool = False
    discovery_prefix: str = "homeassistant"
    #: Also publish Double Take's topic layout (``double-take/matches/<name>``, ...).
    double_take: bool = False
    #: Put the face chip (JPEG, base64 ``snapshot``) in identified/unknown payloads. Off: no
    #: image ever leaves in an event. A chip is biometric data.
    snapshot: bool = False

    @field_validator("url")
    @classmethod
    def _mqtt_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("events.mqtt.url must be mqtt://host[:port] or mqtts://host[:port]")
        return value


class WebhookSettings(BaseModel):
    """One webhook: each wanted event is POSTed as JSON, signed with ``secret``."""

    model_config = ConfigDict(hide_input_in_errors=True)

    url: str
    #: HMAC-SHA256 key of the ``X-Facegate-Signature`` header; unset: unsigned.
    secret: SecretStr | None = None
    #: Event types to send; empty: every type.
    events: list[str] = Field(default_factory=list)
    timeout_s: float = Field(default=5.0, gt=0.0, le=120.0)
    #: As ``MqttSettings.snapshot``.
    snapshot: bool = False

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("a webhook url must be http://... or https://...")
        return value

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown event types {unknown}: choose from {list(EVENT_TYPES)}")
        return value


class EventsSettings(BaseModel):
    """The outbox and its sinks (docs/operations.md)."""

    #: Write events at all (with no sink configured nothing is written either).
    enabled: bool = True
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    #: A JSON list in ``FACEGATE_EVENTS__WEBHOOKS``:
    #: ``[{"url": ..., "secret": ..., "events": [...]}]``.
    webhooks: list[WebhookSettings] = Field(default_factory=list)
    #: Delivered events are kept this many hours (for ``GET /v1/events/deliveries``), then purged.
    retention_hours: float = Field(default=24.0, ge=0.0, le=24 * 366)
    #: Retry backoff after a failed delivery: first wait, doubling up to the longest.
    first_retry_s: float = Field(default=1.0, gt=0.0, le=3600.0)
    max_retry_s: float = Field(default=300.0, gt=0.0, le=86_400.0)
