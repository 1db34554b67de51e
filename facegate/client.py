"""A small HTTP client for a running facegate server (used by ``facegate client``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from facegate.services.bulk import IMAGE_SUFFIXES


def identify_files(
    folder: Path, *, server: str, api_key: str | None = None, threshold: float | None = None,
    timeout: float = 60.0,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(file name, response JSON)`` for every image in ``folder``, sorted by name."""
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    headers = {"X-API-Key": api_key} if api_key else {}
    data = {"threshold": str(threshold)} if threshold is not None else {}
    with httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=timeout) as client:
        for path in files:
            response = client.post("/v1/identify", data=data,
                                   files={"image": (path.name, path.read_bytes())})
            try:
                body = response.json()
            except ValueError:  # not a facegate server (a proxy's error page, a wrong URL)
                body = {"error": {"code": f"HTTP_{response.status_code}",
                                  "message": f"not a facegate answer from {response.request.url}"}}
            yield path.name, body


def send_feedback(
    request_id: str, face_index: int, verdict: str, *, identity_id: str | None = None,
    server: str, api_key: str | None = None, timeout: float = 30.0,
) -> tuple[int, dict[str, Any]]:
    """``POST /v1/feedback``: the HTTP status and the JSON answer (an error body on refusal)."""
    headers = {"X-API-Key": api_key} if api_key else {}
    body: dict[str, Any] = {"request_id": request_id, "face_index": face_index,
                            "verdict": verdict}
    if identity_id is not None:
        body["identity_id"] = identity_id
    with httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=timeout) as client:
        response = client.post("/v1/feedback", json=body)
    try:
        answer: dict[str, Any] = response.json()
    except ValueError:
        answer = {"error": {"code": f"HTTP_{response.status_code}",
                            "message": f"not a facegate answer from {response.request.url}"}}
    return response.status_code, answer
