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


class ApiError(Exception):
    """A facegate error answer (``code``, ``message``, HTTP ``status``)."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


class ReviewClient:
    """The review queue's routes (/v1/review) of a running server (``facegate review``)."""

    def __init__(self, server: str, *, api_key: str | None = None,
                 timeout: float = 60.0) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(base_url=server.rstrip("/"), headers=headers,
                                  timeout=timeout)

    def __enter__(self) -> ReviewClient:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def _answer(self, response: httpx.Response) -> dict[str, Any]:
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400 or not isinstance(body, dict):
            error = body.get("error", {}) if isinstance(body, dict) else {}
            raise ApiError(error.get("code", f"HTTP_{response.status_code}"),
                           error.get("message", f"not a facegate answer from "
                                                f"{response.request.url}"),
                           response.status_code)
        return body

    def clusters(self, *, status: str = "open", limit: int = 50,
                 offset: int = 0) -> dict[str, Any]:
        return self._answer(self._http.get("/v1/review/clusters", params={
            "status": status, "limit": limit, "offset": offset}))

    def cluster(self, cluster_id: str) -> dict[str, Any]:
        return self._answer(self._http.get(f"/v1/review/clusters/{cluster_id}"))

    def act(self, cluster_id: str, action: str, *, version: int | None = None,
            face_ids: list[str] | None = None, **fields: Any) -> dict[str, Any]:
        """``name`` (``name=``), ``assign`` (``identity_id=``), ``ignore`` or ``discard``;
        without ``version``, on the cluster as it is now."""
        if version is None:
            version = int(self.cluster(cluster_id)["version"])
        body: dict[str, Any] = {"version": version, **fields}
        if face_ids:
            body["face_ids"] = face_ids
        return self._answer(self._http.post(f"/v1/review/clusters/{cluster_id}/{action}",
                                            json=body))
