"""Access control over real HTTP: sign-in sessions with CSRF tokens, scoped API keys, roles,
bootstrap keys, and the refusals of issue 13's bad-input list (one live server for the module;
the time-dependent cases get a second one with short sessions)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from access_server import ADMIN_PASSWORD, COOKIE, access_server, admin, sign_in
from conftest import LiveServer, settings_for

from facegate.access import keys
from facegate.storage.access_records import KeyRecord
from facegate.storage.base import new_id, utcnow
from facegate.storage.sqlite import SQLiteStore


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = access_server(tmp_path_factory.mktemp("access"))
    yield server
    server.stop()


@pytest.fixture
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as client:
        yield client


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


def add_user(http: httpx.Client, username: str, role: str) -> str:
    made = admin(http, "POST", "/v1/users",
                 json={"username": username, "password": f"{username}-password-1", "role": role})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def test_sign_in_csrf_sign_out_and_a_replayed_cookie(http: httpx.Client) -> None:
    response = http.post("/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    body = response.json()
    assert body["kind"] == "user" and body["name"] == "admin" and body["role"] == "admin"
    assert len(body["csrf_token"]) >= 32
    session = sign_in(http, "admin", ADMIN_PASSWORD)
    only_cookie = {"Cookie": session["Cookie"]}

    me = http.get("/v1/auth/me", headers=only_cookie).json()
    assert me["kind"] == "user" and me["csrf_token"] == session["X-CSRF-Token"]
    assert set(me["scopes"]) == {"recognize", "enrol", "read", "train", "admin", "metrics"}
    assert http.get("/v1/identities", headers=only_cookie).status_code == 200  # GET: no token
    refused(http.post("/v1/identities", json={"name": "eve"}, headers=only_cookie),
            403, "CSRF_FAILED")
    refused(http.post("/v1/identities", json={"name": "eve"},
                      headers={**only_cookie, "X-CSRF-Token": "forged" * 8}), 403, "CSRF_FAILED")
    assert http.post("/v1/identities", json={"name": "eve"}, headers=session).status_code == 201
    refused(http.post("/v1/auth/logout", headers=only_cookie), 403, "CSRF_FAILED")

    out = http.post("/v1/auth/logout", headers=session)
    assert out.status_code == 200 and out.json() == {"signed_out": True}
    assert f'{COOKIE}=""' in out.headers["set-cookie"] or "max-age=0" in \
        out.headers["set-cookie"].lower()
    refused(http.get("/v1/identities", headers=only_cookie), 401, "UNAUTHORIZED")
    refused(http.post("/v1/auth/logout", headers=session), 401, "UNAUTHORIZED")  # replayed


def test_unknown_user_wrong_password_and_disabled_account_get_one_answer(
        http: httpx.Client) -> None:
    user_id = add_user(http, "dora", "viewer")
    answers = [http.post("/v1/auth/login", json=body) for body in (
        {"username": "nobody-here", "password": "dora-password-1"},
        {"username": "dora", "password": "wrong-password-1"})]
    assert admin(http, "PATCH", f"/v1/users/{user_id}", json={"disabled": True}) \
        .status_code == 200
    answers.append(http.post("/v1/auth/login",
                             json={"username": "dora", "password": "dora-password-1"}))
    errors = [refused(r, 401, "UNAUTHORIZED") for r in answers]
    assert errors[0] == errors[1] == errors[2]  # nothing tells which part was wrong
    refused(http.get("/v1/auth/me"), 401, "UNAUTHORIZED")


def test_short_passwords_and_bad_users_leave_nothing_behind(http: httpx.Client) -> None:
    before = admin(http, "GET", "/v1/users").json()["items"]
    error = refused(admin(http, "POST", "/v1/users",
                          json={"username": "shorty", "password": "too-short", "role": "viewer"}),
                    422, "VALIDATION_ERROR")
    assert error["details"]["min_length"] == 12
    refused(admin(http, "POST", "/v1/users", json={
        "username": "bad name!", "password": "long-enough-pass", "role": "viewer"}),
        422, "VALIDATION_ERROR")
    refused(admin(http, "POST", "/v1/users", json={
        "username": "someone", "password": "long-enough-pass", "role": "root"}),
        422, "VALIDATION_ERROR")
    refused(admin(http, "POST", "/v1/users", json={
        "username": "admin", "password": "long-enough-pass"}), 409, "CONFLICT")
    assert admin(http, "GET", "/v1/users").json()["items"] == before


def test_roles_viewer_cannot_delete_operator_cannot_make_keys(
        http: httpx.Client, faces: Path) -> None:
    add_user(http, "vera", "viewer")
    add_user(http, "otto", "operator")
    viewer, operator = sign_in(http, "vera", "vera-password-1"), \
        sign_in(http, "otto", "otto-password-1")
    made = http.post("/v1/identities", json={"name": "obama"}, headers=operator)
    assert made.status_code == 201, made.text
    obama = made.json()["id"]
    photo = {"image": ("o.jpg", (faces / "obama.jpg").read_bytes())}
    assert http.post(f"/v1/identities/{obama}/faces", files=photo, headers=operator) \
        .status_code == 201
    probe = {"image": ("o2.jpg", (faces / "obama2.jpg").read_bytes())}
    found = http.post("/v1/identify", files=probe, headers=viewer)
    assert found.status_code == 200 and found.json()["faces"][0]["identity"]["name"] == "obama"
    assert http.get(f"/v1/identities/{obama}", headers=viewer).status_code == 200

    error = refused(http.delete(f"/v1/identities/{obama}", headers=viewer), 403, "FORBIDDEN")
    assert error["details"] == {"scope": "enrol"} and "enrol" in error["message"]
    refused(http.post("/v1/identities", json={"name": "x"}, headers=viewer), 403, "FORBIDDEN")
    refused(http.post("/v1/keys", json={"name": "k", "scopes": ["read"]}, headers=operator),
            403, "FORBIDDEN")
    refused(http.get("/v1/users", headers=operator), 403, "FORBIDDEN")
    refused(http.get("/v1/config", headers=operator), 403, "FORBIDDEN")
    assert http.get(f"/v1/identities/{obama}", headers=viewer).status_code == 200  # not deleted
    assert http.get("/v1/models", headers=operator).status_code == 200


def test_scoped_keys_bearer_last_used_and_revocation(http: httpx.Client, faces: Path) -> None:
    made = admin(http, "POST", "/v1/keys",
                 json={"name": "door-cam", "scopes": ["recognize"], "expires_in_days": 90})
    assert made.status_code == 201, made.text
    key = made.json()
    secret = key["secret"]
    assert secret.startswith(f"fg_{key['prefix']}_") and keys.looks_like_key(secret)
    assert key["scopes"] == ["recognize"] and key["created_by"] == "bootstrap-1"
    assert key["expires_at"] is not None and key["last_used_at"] is None
    photo = {"image": ("o.jpg", (faces / "obama.jpg").read_bytes())}
    for headers in ({"X-API-Key": secret}, {"Authorization": f"Bearer {secret}"}):
        detected = http.post("/v1/detect", files=photo, headers=headers)
        assert detected.status_code == 200 and len(detected.json()["faces"]) == 1
    error = refused(http.get("/v1/identities", headers={"X-API-Key": secret}), 403, "FORBIDDEN")
    assert error["details"] == {"scope": "read"}
    me = http.get("/v1/auth/me", headers={"X-API-Key": secret}).json()
    assert me["kind"] == "key" and me["id"] == key["id"] and me["scopes"] == ["recognize"]

    listed = {k["id"]: k for k in admin(http, "GET", "/v1/keys").json()["items"]}
    assert "secret" not in listed[key["id"]] and listed[key["id"]]["last_used_at"] is not None
    assert secret not in admin(http, "GET", "/v1/keys").text
    revoked = admin(http, "DELETE", f"/v1/keys/{key['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert "revoked" in refused(http.post("/v1/detect", files=photo,
                                          headers={"X-API-Key": secret}),
                                401, "UNAUTHORIZED")["message"]
    refused(admin(http, "DELETE", "/v1/keys/no-such-key"), 404, "KEY_NOT_FOUND")


@pytest.mark.parametrize("body", [
    {"name": "k", "scopes": ["everything"]}, {"name": "k", "scopes": []},
    {"name": "", "scopes": ["read"]}, {"name": "k", "scopes": ["read"], "expires_in_days": 0},
    {"name": "k", "scopes": ["read"], "extra": 1}, {"scopes": ["read"]}])
def test_bad_key_requests_make_no_key(http: httpx.Client, body: dict[str, Any]) -> None:
    before = len(admin(http, "GET", "/v1/keys").json()["items"])
    refused(admin(http, "POST", "/v1/keys", json=body), 422, "VALIDATION_ERROR")
    assert len(admin(http, "GET", "/v1/keys").json()["items"]) == before


def test_malformed_and_expired_keys(http: httpx.Client, live: LiveServer) -> None:
    secret, prefix = keys.new_secret()
    now = utcnow()
    store = SQLiteStore(live.settings.data_dir / "gallery.sqlite3")
    try:  # a key that expired a minute ago, written where the server reads its keys
        store.create_key(KeyRecord(
            id=new_id(), name="old", prefix=prefix, secret_hash=keys.sha256(secret),
            scopes=("read",), created_at=now - timedelta(days=2),
            expires_at=now - timedelta(minutes=1), revoked_at=None, last_used_at=None,
            created_by=None))
    finally:
        store.close()
    assert "expired" in refused(http.get("/v1/identities", headers={"X-API-Key": secret}),
                                401, "UNAUTHORIZED")["message"]
    for bad in ("fg_short", secret[:-1] + "!", "x" * 5000, f"fg_{prefix}_" + "A" * 43,
                "\u00e9" * 8):
        refused(http.get("/v1/identities", headers=[(b"X-API-Key", bad.encode())]),
                401, "UNAUTHORIZED")
    refused(http.get("/v1/identities", headers={"Authorization": "Bearer"}),
            401, "UNAUTHORIZED")
    refused(http.get("/v1/identities", headers={"Cookie": f"{COOKIE}=forged"}),
            401, "UNAUTHORIZED")


def test_rapid_failed_logins_lock_the_name_out(http: httpx.Client) -> None:
    add_user(http, "target", "viewer")
    statuses = []
    for _ in range(20):
        response = http.post("/v1/auth/login",
                             json={"username": "target", "password": "guess-guess-guess"})
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert response.json()["error"]["code"] == "TOO_MANY_ATTEMPTS"
            assert int(response.headers["retry-after"]) >= 1
    assert statuses == [401] * 5 + [429] * 15
    locked = http.post("/v1/auth/login",
                       json={"username": "target", "password": "target-password-1"})
    refused(locked, 429, "TOO_MANY_ATTEMPTS")  # even the right password waits
    sign_in(http, "admin", ADMIN_PASSWORD)  # another name from the same address still may


def test_oversize_login_bodies(http: httpx.Client) -> None:
    refused(http.post("/v1/auth/login", json={"username": "admin", "password": "p" * 100_000}),
            422, "VALIDATION_ERROR")
    refused(http.post("/v1/auth/login", json={"username": "u" * 100_000, "password": "p"}),
            422, "VALIDATION_ERROR")
    huge = b'{"username": "admin", "password": "' + b"p" * (40 * 1024 * 1024) + b'"}'
    response = http.post("/v1/auth/login", content=huge,
                         headers={"Content-Type": "application/json"})
    assert response.status_code == 413, response.status_code
    refused(http.post("/v1/auth/login", content=b"{", headers={"Content-Type":
                                                                 "application/json"}),
            422, "VALIDATION_ERROR")


def test_short_sessions_expire_idle_and_addresses_lock_out(tmp_path: Path) -> None:
    server = LiveServer(settings_for(tmp_path, auth={
        "required": True, "admin_password": ADMIN_PASSWORD, "idle_minutes": 0.04,
        "session_hours": 0.0015, "login_failures_per_address": 3})).start()
    try:
        with server.client() as http:
            assert http.get("/v1/auth/me").status_code == 401  # loopback, but required
            session = sign_in(http, "admin", ADMIN_PASSWORD)
            assert http.get("/v1/identities", headers=session).status_code == 200
            time.sleep(2.7)  # idle timeout 2.4 s
            refused(http.get("/v1/identities", headers=session), 401, "UNAUTHORIZED")
            session = sign_in(http, "admin", ADMIN_PASSWORD)
            signed_in = time.monotonic()  # the server's clock started a little earlier
            while time.monotonic() < signed_in + 4.6:  # the session lasts 5.4 s; never idle
                assert http.get("/v1/identities", headers=session).status_code == 200
                time.sleep(0.2)
            time.sleep(signed_in + 5.5 - time.monotonic())
            refused(http.get("/v1/identities", headers=session), 401, "UNAUTHORIZED")
            for name in ("a-one", "a-two", "a-three"):
                refused(http.post("/v1/auth/login", json={"username": name, "password": "x"}),
                        401, "UNAUTHORIZED")
            refused(http.post("/v1/auth/login", json={"username": "admin",
                                                      "password": ADMIN_PASSWORD}),
                    429, "TOO_MANY_ATTEMPTS")  # the address is locked out now
    finally:
        server.stop()


def test_rotating_a_key_keeps_its_scopes_and_revokes_the_old_secret(http: httpx.Client) -> None:
    old = admin(http, "POST", "/v1/keys", json={"name": "cam", "scopes": ["read"],
                                               "expires_in_days": 30}).json()
    rotated = admin(http, "POST", f"/v1/keys/{old['id']}/rotate")
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert new["id"] != old["id"] and new["secret"] != old["secret"]
    assert (new["name"], new["scopes"], new["expires_at"]) == \
        (old["name"], old["scopes"], old["expires_at"])
    assert http.get("/v1/identities", headers={"X-API-Key": new["secret"]}).status_code == 200
    refused(http.get("/v1/identities", headers={"X-API-Key": old["secret"]}), 401, "UNAUTHORIZED")
    refused(admin(http, "POST", f"/v1/keys/{old['id']}/rotate"), 409, "CONFLICT")
    refused(admin(http, "POST", "/v1/keys/nope/rotate"), 404, "KEY_NOT_FOUND")


def test_a_new_password_ends_sessions_and_the_last_admin_stays(http: httpx.Client) -> None:
    user_id = add_user(http, "pat", "operator")
    session = sign_in(http, "pat", "pat-password-1")
    changed = admin(http, "PATCH", "/v1/users/pat", json={"password": "pat-new-password"})
    assert changed.status_code == 200 and changed.json()["id"] == user_id
    refused(http.get("/v1/identities", headers=session), 401, "UNAUTHORIZED")
    session = sign_in(http, "pat", "pat-new-password")
    assert admin(http, "PATCH", "/v1/users/pat", json={"role": "viewer"}).json()["role"] == \
        "viewer"
    refused(http.post("/v1/identities", json={"name": "x"}, headers=session), 403, "FORBIDDEN")
    for attempt in (admin(http, "DELETE", "/v1/users/admin"),
                    admin(http, "PATCH", "/v1/users/admin", json={"role": "viewer"}),
                    admin(http, "PATCH", "/v1/users/admin", json={"disabled": True})):
        refused(attempt, 409, "CONFLICT")
    assert admin(http, "DELETE", f"/v1/users/{user_id}").status_code == 200
    refused(http.get("/v1/identities", headers=session), 401, "UNAUTHORIZED")
    refused(admin(http, "DELETE", f"/v1/users/{user_id}"), 404, "USER_NOT_FOUND")


def test_every_v1_route_but_the_login_refuses_a_caller_without_credentials(
        http: httpx.Client) -> None:
    """A router included without a scope would be open to anyone: this fails first."""
    paths = http.get("/openapi.json").json()["paths"]
    operations = [(method.upper(), path) for path, item in paths.items()
                  for method in item if path.startswith("/v1/")]
    assert len(operations) > 30
    for method, path in operations:
        url = re.sub(r"\{[^}]+\}", "some-id", path)
        response = http.request(method, url)
        if path == "/v1/auth/login":
            assert response.status_code == 422, response.text
        else:
            refused(response, 401, "UNAUTHORIZED")


def test_a_form_carries_the_csrf_token_in_its_csrf_token_field(
        http: httpx.Client, faces: Path) -> None:
    """HTML forms cannot set headers: a multipart body's ``csrf_token`` field counts too, and
    no route sees that field."""
    session = sign_in(http, "admin", ADMIN_PASSWORD)
    only_cookie = {"Cookie": session["Cookie"]}
    image = {"image": ("obama.jpg", (faces / "obama.jpg").read_bytes())}
    refused(http.post("/v1/detect", files=image, headers=only_cookie), 403, "CSRF_FAILED")
    refused(http.post("/v1/detect", files=image, data={"csrf_token": "forged" * 8},
                      headers=only_cookie), 403, "CSRF_FAILED")
    detected = http.post("/v1/detect", files=image,
                         data={"csrf_token": session["X-CSRF-Token"]}, headers=only_cookie)
    assert detected.status_code == 200, detected.text
    assert len(detected.json()["faces"]) == 1
