"""``facegate users`` and ``facegate keys`` from the user's side (typer's CliRunner on a real
SQLite gallery), and a key made on the command line used against a live server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import LiveServer, settings_for
from typer.testing import CliRunner

from facegate.cli import app

PASSWORD = "a-long-enough-password"


def run(*args: object, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args], input=stdin)
    return result.exit_code, result.output


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("FACEGATE_STORAGE__URL", "FACEGATE_SERVER__API_KEYS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "data"


def users(data: Path) -> dict[str, dict[str, object]]:
    code, output = run("users", "list", "--json", "--data-dir", data)
    assert code == 0, output
    return {u["username"]: u for u in json.loads(output)}


def test_users_add_list_passwd_disable_delete(data: Path) -> None:
    code, output = run("users", "add", "vera", "--role", "viewer", "--password-stdin",
                       "--data-dir", data, stdin=PASSWORD + "\n")
    assert code == 0, output
    code, output = run("users", "add", "otto", "--role", "operator", "--data-dir", data,
                       stdin=f"{PASSWORD}\n{PASSWORD}\n")  # the prompt, confirmed
    assert code == 0, output
    assert {n: u["role"] for n, u in users(data).items()} == {"vera": "viewer",
                                                             "otto": "operator"}
    assert run("users", "passwd", "vera", "--password-stdin", "--data-dir", data,
               stdin="another-long-password\n")[0] == 0
    assert run("users", "disable", "vera", "--data-dir", data)[0] == 0
    assert users(data)["vera"]["disabled"] is True
    assert run("users", "delete", "otto", "--data-dir", data)[0] == 0
    assert set(users(data)) == {"vera"}
    code, output = run("users", "delete", "nobody", "--data-dir", data)
    assert code == 1 and "USER_NOT_FOUND" in output


def test_passwords_on_the_command_line_and_short_ones_are_refused(data: Path) -> None:
    code, output = run("users", "add", "mallory", "--password", PASSWORD, "--data-dir", data)
    assert code == 2 and "command line" in output and PASSWORD not in output
    code, output = run("users", "add", "mallory", "--password-stdin", "--data-dir", data,
                       stdin="short\n")
    assert code == 1 and "VALIDATION_ERROR" in output and "12" in output
    code, output = run("users", "add", "mallory", "--role", "root", "--password-stdin",
                       "--data-dir", data, stdin=PASSWORD + "\n")
    assert code == 1 and "VALIDATION_ERROR" in output
    assert users(data) == {}  # nothing half-made


def test_keys_create_list_revoke_against_a_live_server(data: Path, faces: Path) -> None:
    code, output = run("keys", "create", "--name", "door-cam", "--scope", "recognize",
                       "--scope", "enrol", "--expires", "90d", "--json", "--data-dir", data)
    assert code == 0, output
    made = json.loads(output)
    code, output = run("keys", "list", "--json", "--data-dir", data)
    listed = json.loads(output)
    assert [k["name"] for k in listed] == ["door-cam"] and made["secret"] not in output
    assert listed[0]["scopes"] == ["recognize", "enrol"] and listed[0]["expires_at"]
    assert run("keys", "create", "--name", "x", "--scope", "all", "--data-dir", data)[0] == 1
    assert run("keys", "create", "--name", "x", "--scope", "read", "--expires", "soon",
               "--data-dir", data)[0] == 2
    assert len(json.loads(run("keys", "list", "--json", "--data-dir", data)[1])) == 1

    server = LiveServer(settings_for(data, auth={"required": True})).start()
    try:
        with server.client(headers={"X-API-Key": made["secret"]}) as http:
            photo = {"image": ("o.jpg", (faces / "obama.jpg").read_bytes())}
            assert http.post("/v1/detect", files=photo).status_code == 200
            assert http.get("/v1/identities").status_code == 403  # no read scope
            assert run("keys", "revoke", made["id"], "--data-dir", data)[0] == 0
            assert http.post("/v1/detect", files=photo).status_code == 401
    finally:
        server.stop()
