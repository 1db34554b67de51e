"""Every answer carries X-Request-ID; callers over their recognition rate get 429 RATE_LIMITED.

One live server with two API keys and a small ``recognize`` rate (burst 3, then one request a
minute), so the fourth recognition request of a caller within the test is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, settings_for
from fastapi import Request

from facegate.api.rate_limit import TokenBuckets

KEY_A, KEY_B = "key-a-0123456789", "key-b-0123456789"
HEX_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = settings_for(tmp_path_factory.mktemp("rates"),
                            server={"api_keys": [KEY_A, KEY_B]},
                            image={"max_upload_bytes": 300_000},  # bodies over ~0.9 MB: 413
                            rate={"recognize_per_minute": 1, "recognize_burst": 3})
    live = LiveServer(settings).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def photo(faces: Path) -> bytes:
    return (faces / "obama.jpg").read_bytes()


def plain(server: LiveServer, key: str | None = KEY_A) -> httpx.Client:
    """A client that lets 429s through (the suite's client refuses only 5xx anyway)."""
    return server.client(headers={"X-API-Key": key} if key else {})


def test_a_sane_request_id_is_echoed(server: LiveServer) -> None:
    with plain(server) as http:
        for given in ("abc.DEF_1-2", "x" * 128, "0"):
            response = http.get("/v1/identities", headers={"X-Request-ID": given})
            assert response.status_code == 200
            assert response.headers["X-Request-ID"] == given


def test_a_missing_or_insane_request_id_is_replaced_by_a_fresh_one(server: LiveServer) -> None:
    seen: set[str] = set()
    with plain(server) as http:
        for given in (None, "", "x" * 129, "has space", "semi;colon", "<script>", "é", "a/b"):
            headers = {"X-Request-ID": given.encode()} if given is not None else {}
            response = http.get("/v1/identities", headers=headers)
            assert response.status_code == 200
            assert HEX_ID.fullmatch(response.headers["X-Request-ID"]), given
            seen.add(response.headers["X-Request-ID"])
        repeated = http.get("/v1/identities", headers=[("X-Request-ID", "one"),
                                                        ("X-Request-ID", "two")])
        assert HEX_ID.fullmatch(repeated.headers["X-Request-ID"])
    assert len(seen) == 8  # a new one each time


def test_every_kind_of_answer_carries_the_request_id(server: LiveServer) -> None:
    with plain(server) as http, plain(server, key=None) as anonymous:
        answers = {
            "health": http.get("/healthz", headers={"X-Request-ID": "r-health"}),
            "not found": http.get("/v1/nowhere", headers={"X-Request-ID": "r-404"}),
            "no key": anonymous.get("/v1/identities", headers={"X-Request-ID": "r-401"}),
            "invalid": http.post("/v1/identities", json={"name": 5},
                                 headers={"X-Request-ID": "r-422"}),
            "too large": http.post("/v1/identities", content=b"x" * 1_000_000,  # BodyLimit's
                                   headers={"X-Request-ID": "r-413"}),
        }
    statuses = {name: r.status_code for name, r in answers.items()}
    assert statuses == {"health": 200, "not found": 404, "no key": 401, "invalid": 422,
                        "too large": 413}
    for name, response in answers.items():
        assert response.headers["X-Request-ID"].startswith("r-"), name
        if response.status_code >= 400:  # the error envelope is unchanged
            assert set(response.json()) == {"error"}, name


def test_routes_see_the_id_and_an_unexpected_fault_still_carries_it(server: LiveServer) -> None:
    # Two probe routes on the real app: what a route (the audit log) reads, and a bug's 500.
    def echo(request: Request) -> dict[str, str]:
        return {"request_id": request.state.request_id}

    def broken() -> None:
        raise RuntimeError("a bug")

    server.app.add_api_route("/probe/echo", echo)
    server.app.add_api_route("/probe/broken", broken)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert http.get("/probe/echo", headers={"X-Request-ID": "r-state"}).json() == {
            "request_id": "r-state"}
        generated = http.get("/probe/echo")
        assert generated.json()["request_id"] == generated.headers["X-Request-ID"]
        fault = http.get("/probe/broken", headers={"X-Request-ID": "r-500"})
    assert fault.status_code == 500
    assert fault.json() == {"error": {"code": "INTERNAL_ERROR",
                                      "message": "an unexpected error occurred"}}
    assert fault.headers["X-Request-ID"] == "r-500"


def test_a_caller_over_its_rate_gets_429_while_others_pass(server: LiveServer,
                                                           photo: bytes) -> None:
    image = {"image": ("obama.jpg", photo)}
    with plain(server, KEY_A) as a, plain(server, KEY_B) as b:
        for _ in range(3):  # the burst
            assert a.post("/v1/detect", files=image).status_code == 200
        refused = a.post("/v1/identify", files=image, headers={"X-Request-ID": "r-429"})
        assert refused.status_code == 429, refused.text
        error = refused.json()["error"]
        assert error["code"] == "RATE_LIMITED"
        assert error["details"]["scope"] == "recognize"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.headers["X-Request-ID"] == "r-429"
        # The same key as a bearer token is the same caller; liveness is in the scope too.
        bearer = {"Authorization": f"Bearer {KEY_A}"}
        with server.client(headers=bearer) as by_bearer:
            assert by_bearer.post("/v1/embed", files=image).status_code == 429
        assert a.post("/v1/liveness/sessions").status_code == 429
        # Another key, and another (not rate-limited) route of the same key, still pass.
        assert b.post("/v1/detect", files=image).status_code == 200
        assert a.get("/v1/identities").status_code == 200
        created = a.post("/v1/identities", json={"name": "Barack Obama"})
        assert created.status_code == 201
        faces_url = f"/v1/identities/{created.json()['id']}/faces"
        assert a.post(faces_url, files=image).status_code == 201  # enrol is not limited


def test_without_a_key_the_client_address_is_the_caller(server: LiveServer) -> None:
    # Counted before the key is checked: a client without one gets 401 until its address's
    # burst is spent, then 429 (the keyed callers above are other callers).
    with plain(server, key=None) as anonymous:
        statuses = [anonymous.post("/v1/detect").status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 429]
        assert anonymous.post("/v1/verify").headers["Retry-After"] in {str(n) for n in
                                                                       range(1, 61)}


def test_buckets_are_forgotten_when_full_and_bounded_in_number() -> None:
    now = [0.0]
    buckets = TokenBuckets(per_minute=60, burst=2, max_buckets=100, clock=lambda: now[0])
    assert [buckets.take("a"), buckets.take("a")] == [0.0, 0.0]
    assert buckets.take("a") == pytest.approx(1.0)  # a token a second
    for n in range(1000):
        buckets.take(f"caller-{n}")
    assert len(buckets.buckets) == 100  # the least recently used went first
    now[0] = 10.0  # every bucket has filled up again: nothing worth keeping
    buckets.take("b")
    assert list(buckets.buckets) == ["b"]
