"""API keys, the refusal to serve openly without one, and routing errors (404, 405)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pydantic
import pytest
from conftest import LiveServer, settings_for

from facegate.config import Settings

KEY = "secret-key-123"


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """One server with two keys for the module (only test_v1_needs_a_valid_key writes)."""
    server = LiveServer(settings_for(tmp_path_factory.mktemp("locked"),
                                     server={"api_keys": [KEY, "second-key-456"]})).start()
    with server.client() as http:
        yield http
    server.stop()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """One open server (no key) for the module's read-only checks."""
    server = LiveServer(settings_for(tmp_path_factory.mktemp("open"))).start()
    with server.client() as http:
        yield http
    server.stop()


def unauthorized(response: httpx.Response) -> str:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "APIKey"
    assert response.json()["error"]["code"] == "UNAUTHORIZED"
    message: str = response.json()["error"]["message"]
    return message


def test_v1_needs_a_valid_key(locked: httpx.Client, faces: Path) -> None:
    image = {"image": ("o.jpg", (faces / "obama.jpg").read_bytes())}
    assert "X-API-Key" in unauthorized(locked.get("/v1/identities"))
    unauthorized(locked.post("/v1/identities", json={"name": "eve"}))
    unauthorized(locked.post("/v1/identify", files=image))
    unauthorized(locked.post("/v1/verify", json={}))
    unauthorized(locked.get("/v1/identities", headers={"X-API-Key": "wrong-key-000"}))
    unauthorized(locked.get("/v1/identities", headers={"X-API-Key": KEY + "x"}))
    unauthorized(locked.get("/v1/identities", headers={"X-API-Key": ""}))
    assert locked.get("/v1/identities", headers={"Authorization": f"Bearer {KEY}"}) \
        .status_code == 200  # a bootstrap key works as a bearer token too
    unauthorized(locked.get("/v1/identities", headers={"Authorization": "Basic " + KEY}))

    for key in (KEY, "second-key-456"):
        made = locked.post("/v1/identities", json={"name": "alice"}, headers={"X-API-Key": key})
        assert made.status_code == 201, made.text
    listed = locked.get("/v1/identities", headers={"x-api-key": KEY})  # any header case
    assert listed.status_code == 200 and listed.json()["total"] == 2
    detected = locked.post("/v1/detect", files=image, headers={"X-API-Key": KEY})
    assert detected.status_code == 200 and len(detected.json()["faces"]) == 1


def test_health_endpoints_stay_open(locked: httpx.Client) -> None:
    assert locked.get("/healthz").json() == {"status": "ok"}
    ready = locked.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert locked.get("/docs").status_code == 200
    assert "/v1/identify" in locked.get("/openapi.json").json()["paths"]


def test_no_key_configured_means_open(client: httpx.Client) -> None:
    assert client.get("/v1/identities").status_code == 200
    assert client.get("/v1/identities", headers={"X-API-Key": "anything-at-all"}) \
        .status_code == 200


def test_unknown_routes_and_methods(client: httpx.Client) -> None:
    for url in ("/v1/nothing-here", "/nope", "/v2/identify"):
        response = client.get(url)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "NOT_FOUND"
    for method, url in (("GET", "/v1/identify"), ("DELETE", "/v1/verify"),
                        ("PUT", "/v1/identities"), ("POST", "/healthz")):
        response = client.request(method, url)
        assert response.status_code == 405, (method, url)
        assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
        assert "message" in response.json()["error"]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.org"])
def test_refuses_to_serve_openly_without_a_key(host: str, tmp_path: Path) -> None:
    with pytest.raises(pydantic.ValidationError, match="without an API key"):
        Settings(data_dir=tmp_path, server={"host": host})
    settings = Settings(data_dir=tmp_path, server={"host": host, "api_keys": [KEY]})
    assert settings.server.host == host
    assert [k.get_secret_value() for k in settings.server.api_keys] == [KEY]
    assert KEY not in repr(settings)  # keys are secrets: never shown


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_no_key(host: str, tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path, server={"host": host}).server.api_keys == []


def test_key_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="at least 8 characters"):
        Settings(data_dir=tmp_path, server={"api_keys": ["short"]})
    monkeypatch.setenv("FACEGATE_SERVER__API_KEYS", f"{KEY}, another-key-789")
    monkeypatch.setenv("FACEGATE_SERVER__HOST", "0.0.0.0")
    settings = Settings(data_dir=tmp_path)
    assert [k.get_secret_value() for k in settings.server.api_keys] == [KEY, "another-key-789"]
