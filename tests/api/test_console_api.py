"""The REST routes the web console calls, over real HTTP on one live server: changing one's own
password, the server status, and bulk import as a job on real face photos (zips of per-person
folders and of ``name_N.jpg`` files), with its per-file report as JSON and CSV."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import LiveServer, settings_for

BOOT = "bootstrap-key-0123456789"
ADMIN_PASSWORD = "correct horse battery"
COOKIE = "facegate_session"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(settings_for(
        tmp_path_factory.mktemp("console-api"), server={"api_keys": [BOOT]},
        auth={"admin_password": ADMIN_PASSWORD, "login_failures_per_address": 1000})).start()
    yield server
    server.stop()


@pytest.fixture
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as client:
        yield client


def admin(http: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    return http.request(method, url, headers={"X-API-Key": BOOT}, **kwargs)


def sign_in(http: httpx.Client, username: str, password: str) -> dict[str, str]:
    response = http.post("/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    token = response.cookies[COOKIE]
    http.cookies.clear()
    return {"Cookie": f"{COOKIE}={token}", "X-CSRF-Token": response.json()["csrf_token"]}


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


def test_a_user_changes_their_own_password(http: httpx.Client) -> None:
    old, new = "viewer-password-1", "a brand new passphrase"
    made = admin(http, "POST", "/v1/users",
                 json={"username": "vera", "password": old, "role": "viewer"})
    assert made.status_code == 201, made.text
    here, elsewhere = sign_in(http, "vera", old), sign_in(http, "vera", old)
    wrong = refused(http.post("/v1/auth/password", headers=here, json={
        "current_password": "not it at all", "new_password": new}), 401, "UNAUTHORIZED")
    login_wrong = refused(http.post("/v1/auth/login", json={
        "username": "vera", "password": "nope"}), 401, "UNAUTHORIZED")
    assert wrong["message"] == login_wrong["message"]
    short = refused(http.post("/v1/auth/password", headers=here, json={
        "current_password": old, "new_password": "short"}), 422, "VALIDATION_ERROR")
    assert short["details"]["min_length"] == 12
    refused(http.post("/v1/auth/password", headers={"Cookie": here["Cookie"]}, json={
        "current_password": old, "new_password": new}), 403, "CSRF_FAILED")
    refused(admin(http, "POST", "/v1/auth/password", json={
        "current_password": old, "new_password": new}), 403, "FORBIDDEN")

    changed = http.post("/v1/auth/password", headers=here,
                        json={"current_password": old, "new_password": new})
    assert changed.status_code == 200 and changed.json() == {"changed": True}, changed.text
    assert http.get("/v1/auth/me", headers=here).json()["name"] == "vera"  # this one goes on
    refused(http.get("/v1/auth/me", headers=elsewhere), 401, "UNAUTHORIZED")
    refused(http.post("/v1/auth/login", json={"username": "vera", "password": old}),
            401, "UNAUTHORIZED")
    sign_in(http, "vera", new)
