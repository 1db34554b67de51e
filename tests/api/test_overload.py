"""A full queue answers 503 OVERLOADED with Retry-After at once, never a timeout."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from conftest import LiveServer


def test_full_queue_answers_503_with_retry_after(
    start_server: Callable[..., LiveServer], faces: Path
) -> None:
    server = start_server(server={"workers": 1, "max_queue": 1})
    photo = (faces / "group6.jpg").read_bytes()

    def identify(_: int) -> httpx.Response:
        # A plain client: this test expects some 503s, which the suite's client would refuse.
        with httpx.Client(base_url=server.url, timeout=120) as http:
            return http.post("/v1/identify", files={"image": ("g.jpg", photo)})

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(identify, range(8)))
    statuses = sorted(r.status_code for r in responses)
    busy = [r for r in responses if r.status_code == 503]
    assert set(statuses) == {200, 503}, statuses
    assert statuses.count(200) >= 2  # one running plus one queued got through
    for response in busy:
        assert response.headers["Retry-After"] == "1"
        assert response.json()["error"]["code"] == "OVERLOADED"
    # Once the burst is over the server answers normally again.
    assert identify(0).status_code == 200
