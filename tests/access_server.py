"""A live server with access control on (a bootstrap key and the admin's password), and the
two ways the API tests speak to it: as the bootstrap admin key, or as a signed-in session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from conftest import LiveServer, settings_for

BOOT = "bootstrap-key-0123456789"
ADMIN_PASSWORD = "correct horse battery"
COOKIE = "facegate_session"


def access_server(folder: Path) -> LiveServer:
    """Started; the caller stops it."""
    return LiveServer(settings_for(
        folder, server={"api_keys": [BOOT]},
        auth={"admin_password": ADMIN_PASSWORD, "login_failures_per_address": 1000})).start()


def admin(http: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
    return http.request(method, url, headers={"X-API-Key": BOOT}, **kwargs)


def sign_in(http: httpx.Client, username: str, password: str) -> dict[str, str]:
    """Headers of a signed-in session: its cookie and its CSRF token."""
    response = http.post("/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    token = response.cookies[COOKIE]
    http.cookies.clear()  # every request below says which credentials it carries
    return {"Cookie": f"{COOKIE}={token}", "X-CSRF-Token": response.json()["csrf_token"]}
