"""Shared by the outbox durability tests: the photos, the server's event settings and a call."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from conftest import NO_CNN_FALLBACK

PHOTOS = ("obama.jpg", "biden.jpg", "obama2.jpg", "obama3.jpg", "group6.jpg", "obama.jpg")


def events_env(url: str) -> dict[str, str]:
    return {**NO_CNN_FALLBACK, "FACEGATE_EVENTS__WEBHOOKS": json.dumps([{"url": url}]),
            "FACEGATE_EVENTS__FIRST_RETRY_S": "0.05", "FACEGATE_EVENTS__MAX_RETRY_S": "0.2"}


def identify(http: httpx.Client, faces: Path, name: str, camera: str) -> list[str]:
    """The identify's request id, once per face it found."""
    answer = http.post("/v1/identify", params={"camera": camera},
                       files={"image": (name, (faces / name).read_bytes())})
    assert answer.status_code == 200, answer.text
    return [answer.headers["x-request-id"]] * len(answer.json()["faces"])
