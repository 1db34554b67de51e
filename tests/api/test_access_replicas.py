"""Two servers on one PostgreSQL: a key revoked through one is refused by the other at its
next request, and a session signed in on one is accepted, and signed out, on the other."""

from __future__ import annotations

from pathlib import Path

import httpx
from conftest import LiveServer, settings_for

BOOT = "replica-bootstrap-key-01"
PASSWORD = "replica-admin-password"


def test_keys_and_sessions_hold_on_every_replica(postgres_url: str, tmp_path: Path,
                                                 faces: Path) -> None:
    servers = [LiveServer(settings_for(
        tmp_path / name, storage={"url": postgres_url}, server={"api_keys": [BOOT]},
        auth={"admin_password": PASSWORD})).start() for name in ("a", "b")]
    a, b = (httpx.Client(base_url=s.url, timeout=60) for s in servers)
    try:
        made = a.post("/v1/keys", json={"name": "cam", "scopes": ["recognize", "read"]},
                      headers={"X-API-Key": BOOT})
        assert made.status_code == 201, made.text
        key = {"X-API-Key": made.json()["secret"]}
        assert b.get("/v1/identities", headers=key).status_code == 200
        assert a.delete(f"/v1/keys/{made.json()['id']}", headers={"X-API-Key": BOOT}) \
            .status_code == 200
        refused = b.get("/v1/identities", headers=key)
        assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]

        login = a.post("/v1/auth/login", json={"username": "admin", "password": PASSWORD})
        assert login.status_code == 200, login.text
        session = {"Cookie": f"facegate_session={login.cookies['facegate_session']}",
                   "X-CSRF-Token": login.json()["csrf_token"]}
        a.cookies.clear()
        assert b.get("/v1/auth/me", headers=session).json()["name"] == "admin"
        assert b.post("/v1/identities", json={"name": "eve"}, headers=session) \
            .status_code == 201
        assert b.post("/v1/auth/logout", headers=session).status_code == 200
        assert a.get("/v1/identities", headers=session).status_code == 401
        assert len(b.get("/v1/users", headers={"X-API-Key": BOOT}).json()["items"]) == 1
    finally:
        a.close()
        b.close()
        for server in servers:
            server.stop()
