"""What the MQTT sink publishes for an event: topics and JSON payloads (docs/operations.md, MQTT).

Pure functions, no network: ``MqttSink`` (events/mqtt.py) sends what ``messages_for`` returns.
Topics are built from slugs only, so a name or camera can never put an MQTT wildcard (``+``,
``#``), a level separator or a NUL into a topic.
"""

from __future__ import annotations

import base64
import json
import re
import unicodedata
from typing import Any, NamedTuple

from facegate.config_events import MqttSettings
from facegate.events.types import Event

#: Longest slug in a topic level (names and cameras are cut there).
SLUG_MAX = 64
#: Double Take's fixed topic root (its users' automations name it literally).
DOUBLE_TAKE = "double-take"
#: Home Assistant's template: the person's name, or ``unknown`` for a stranger.
HA_VALUE_TEMPLATE = ("{{ value_json.name if value_json.event == 'face.identified' "
                     "else 'unknown' }}")

_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_EVENT_TYPE = re.compile(r"[a-z]+(\.[a-z]+)*")


class Message(NamedTuple):
    topic: str
    payload: bytes
    retain: bool


def slug(text: str | None, *, fallback: str = "unnamed") -> str:
    """Lowercase ASCII letters and digits joined by ``-``, at most ``SLUG_MAX`` long: "José
    Ñúñez" → ``jose-nunez``; ``fallback`` when nothing is left (a name in another script)."""
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    cut = _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")[:SLUG_MAX].strip("-")
    return cut or fallback


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _snapshot(event: Event, options: MqttSettings) -> str | None:
    if options.snapshot and event.snapshot:
        return base64.b64encode(event.snapshot).decode("ascii")
    return None


def name_slug(event: Event) -> str:
    """The topic level of an identified person: their name's slug, else their id's."""
    name = event.data.get("name")
    identity_id = event.data.get("identity_id")
    return slug(name if isinstance(name, str) else None,
                fallback=slug(identity_id if isinstance(identity_id, str) else None))


def camera_slug(event: Event) -> str | None:
    return slug(event.camera, fallback="camera") if event.camera else None


def messages_for(event: Event, options: MqttSettings) -> list[Message]:
    """Everything one event is published as, in order: its main topic, the retained per-camera
    topic (identified/unknown with a camera), then the Double Take layout when asked for."""
    prefix = options.topic_prefix.strip("/")
    payload = event.payload()
    snapshot = _snapshot(event, options)
    if snapshot is not None:
        payload["snapshot"] = snapshot
    body = _json(payload)
    face = event.type in ("face.identified", "face.unknown")
    if event.type == "face.identified":
        main = f"{prefix}/identified/{name_slug(event)}"
    elif event.type == "face.unknown":
        main = f"{prefix}/unknown"
    elif event.type == "liveness.decided":
        main = f"{prefix}/liveness"
    else:
        kind = event.type if _EVENT_TYPE.fullmatch(event.type) else slug(event.type)
        main = f"{prefix}/events/{kind}"
    out = [Message(main, body, False)]
    camera = camera_slug(event)
    if face and camera:
        out.append(Message(f"{prefix}/cameras/{camera}", body, True))
    if face and options.double_take:
        out.extend(double_take(event, snapshot))
    return out


def _confidence(data: dict[str, Any]) -> float | None:
    """Double Take's 0-100 ``confidence`` from a distance (lower is closer): 100 at distance 0,
    50 at the threshold, 0 at twice the threshold. A monotone rescaling, not a probability."""
    distance, threshold = data.get("distance"), data.get("threshold")
    if not isinstance(distance, int | float) or not isinstance(threshold, int | float) \
            or threshold <= 0:
        return None
    return round(max(0.0, min(100.0, 100.0 * (1.0 - distance / (2.0 * threshold)))), 2)


def _dt_box(box: Any) -> dict[str, int] | None:
    if not isinstance(box, dict):
        return None
    try:
        return {"top": int(box["top"]), "left": int(box["left"]),
                "width": int(box["right"]) - int(box["left"]),
                "height": int(box["bottom"]) - int(box["top"])}
    except (KeyError, TypeError, ValueError):
        return None


def double_take(event: Event, snapshot: str | None) -> list[Message]:
    """Double Take's topics and payload shapes for one face: ``matches/<name>`` with ``match``,
    ``matches/unknown`` with ``unknown``/``unknowns``, retained ``cameras/<camera>`` with
    ``matches``, ``misses``, ``unknowns`` and ``counts``."""
    known = event.type == "face.identified"
    name = name_slug(event) if known else "unknown"
    result = {"name": name, "confidence": _confidence(event.data), "match": known,
              "box": _dt_box(event.data.get("box")), "type": "facegate", "detector": "facegate",
              "filename": None, "base64": snapshot}
    base = {"id": event.id, "timestamp": event.payload()["time"], "attempts": 1,
            "camera": event.camera, "zones": []}
    if known:
        out = [Message(f"{DOUBLE_TAKE}/matches/{name}", _json({**base, "match": result}), False)]
    else:
        out = [Message(f"{DOUBLE_TAKE}/matches/unknown",
                       _json({**base, "unknown": result, "unknowns": [result]}), False)]
    camera = camera_slug(event)
    if camera:
        counts = {"person": 1, "match": int(known), "miss": 0, "unknown": int(not known)}
        summary = {**base, "matches": [result] if known else [], "misses": [],
                   "unknowns": [] if known else [result], "personCount": 1, "counts": counts}
        out.append(Message(f"{DOUBLE_TAKE}/cameras/{camera}", _json(summary), True))
    return out


def discovery(camera: str, options: MqttSettings) -> Message:
    """Home Assistant MQTT discovery: one sensor per camera whose state is the last person seen
    there (the retained ``cameras/<camera>`` topic), with the event's fields as attributes."""
    prefix = options.topic_prefix.strip("/")
    object_id = f"facegate_{camera}"
    config = {
        "name": "Last person seen", "unique_id": object_id, "object_id": object_id,
        "icon": "mdi:account", "state_topic": f"{prefix}/cameras/{camera}",
        "value_template": HA_VALUE_TEMPLATE,
        "json_attributes_topic": f"{prefix}/cameras/{camera}",
        "availability_topic": f"{prefix}/available",
        "payload_available": "online", "payload_not_available": "offline",
        "device": {"identifiers": [object_id], "name": f"facegate {camera}",
                   "manufacturer": "facegate", "model": "face recognition camera"},
    }
    topic = f"{options.discovery_prefix.strip('/')}/sensor/{object_id}/config"
    return Message(topic, _json(config), True)
