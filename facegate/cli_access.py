"""``facegate users add|list|passwd|disable|enable|delete`` and ``facegate keys
create|list|rotate|revoke``: accounts and API keys in the gallery database, for the server that
shares it. Passwords come from a prompt or ``--password-stdin``, never from the command line
(other users see it in ``ps``, the shell keeps it in its history). Registered by ``cli.py``."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import pydantic
import typer
from rich.table import Table

from facegate.access.keys import COMPREFACE_SERVICES
from facegate.access.principal import ROLES, SCOPES
from facegate.access.service import AccessService
from facegate.cli_common import DataDir, JsonOut, err, out
from facegate.config import Settings
from facegate.errors import FacegateError
from facegate.storage.base import open_store

users_app = typer.Typer(help="Accounts that sign in (roles: admin, operator, viewer).",
                        no_args_is_help=True)
keys_app = typer.Typer(help="API keys with scopes (the secret is shown once).",
                       no_args_is_help=True)

Username = Annotated[str, typer.Argument(help="user name")]
PasswordStdin = Annotated[bool, typer.Option(
    "--password-stdin", help="read the password from the first line of standard input")]
RefusedPassword = Annotated[str | None, typer.Option(
    "--password", hidden=True, help="refused: use the prompt or --password-stdin")]


@contextmanager
def access(data_dir: Path | None) -> Iterator[AccessService]:
    try:
        settings = Settings(data_dir=data_dir) if data_dir else Settings()
    except pydantic.ValidationError as exc:
        err.print(f"[red]configuration error:[/red] {exc.error_count()} problem(s) in the "
                  "settings")
        raise typer.Exit(2) from exc
    if not settings.storage.url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        store = open_store(settings.storage_url)
    except FacegateError as exc:
        err.print(f"[red]{exc.code}[/red]: {exc.message}")
        raise typer.Exit(1) from exc
    try:
        yield AccessService(store, settings)
    except FacegateError as exc:
        err.print(f"[red]{exc.code}[/red]: {exc.message}")
        raise typer.Exit(1) from exc
    finally:
        store.close()


def read_password(*, stdin: bool, given: str | None) -> str:
    if given is not None:
        err.print("[red]refused:[/red] a password on the command line shows in `ps` and the "
                  "shell history: leave it out to be prompted, or use --password-stdin")
        raise typer.Exit(2)
    if stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@users_app.command("add")
def users_add(username: Username, role: Annotated[str, typer.Option(
        help=f"one of {', '.join(ROLES)}")] = "viewer", password_stdin: PasswordStdin = False,
        password: RefusedPassword = None, data_dir: DataDir = None) -> None:
    """Add a user (password of at least 12 characters)."""
    secret = read_password(stdin=password_stdin, given=password)
    with access(data_dir) as service:
        user = service.users.add(username, secret, role=role)
    out.print(f"added {user.username} ({user.role}), id {user.id}")


@users_app.command("list")
def users_list(data_dir: DataDir = None, as_json: JsonOut = False) -> None:
    """Every user, oldest first."""
    with access(data_dir) as service:
        users = service.users.list()
    rows: list[dict[str, Any]] = [
        {"id": u.id, "username": u.username, "role": u.role, "disabled": u.disabled,
         "created_at": u.created_at.isoformat()} for u in users]
    if as_json:
        out.print(json.dumps(rows, indent=2))
        return
    table = Table("username", "role", "disabled", "created", "id")
    for row in rows:
        table.add_row(row["username"], row["role"], "yes" if row["disabled"] else "",
                      row["created_at"][:19], row["id"])
    out.print(table)


@users_app.command("passwd")
def users_passwd(username: Username, password_stdin: PasswordStdin = False,
                 password: RefusedPassword = None, data_dir: DataDir = None) -> None:
    """Set a new password (ends the user's sessions)."""
    secret = read_password(stdin=password_stdin, given=password)
    with access(data_dir) as service:
        service.users.change(username, password=secret)
    out.print(f"password of {username} changed; their sessions ended")


@users_app.command("disable")
def users_disable(username: Username, data_dir: DataDir = None) -> None:
    """Refuse the user's sign-ins and end their sessions."""
    with access(data_dir) as service:
        service.users.change(username, disabled=True)
    out.print(f"{username} disabled")


@users_app.command("enable")
def users_enable(username: Username, data_dir: DataDir = None) -> None:
    with access(data_dir) as service:
        service.users.change(username, disabled=False)
    out.print(f"{username} enabled")


@users_app.command("delete")
def users_delete(username: Username, data_dir: DataDir = None) -> None:
    """Delete the user and their sessions."""
    with access(data_dir) as service:
        service.users.delete(username)
    out.print(f"{username} deleted")


def parse_days(text: str | None) -> int | None:
    """``90d`` or ``90`` → 90; ``never`` or nothing → None."""
    if text is None or text == "never":
        return None
    match = re.fullmatch(r"(\d{1,5})d?", text.strip())
    if match is None:
        raise typer.BadParameter("give days, e.g. 90d, or never", param_hint="--expires")
    return int(match.group(1))


@keys_app.command("create")
def keys_create(
    name: Annotated[str | None, typer.Option(
        help="what the key is for, e.g. door-cam [compreface-SERVICE with --compreface]")] = None,
    scope: Annotated[list[str] | None, typer.Option(
        help=f"repeatable: {', '.join(SCOPES)}")] = None,
    expires: Annotated[str | None, typer.Option(help="lifetime, e.g. 90d [never]")] = None,
    compreface: Annotated[str | None, typer.Option(
        help="a CompreFace service's key (a UUID; scopes: recognition = recognize, enrol, "
             "read; detection, verification = recognize)")] = None,
    key: Annotated[str | None, typer.Option(
        "--key", help="use this UUID as the secret (an existing client's key string)")] = None,
    data_dir: DataDir = None, as_json: JsonOut = False,
) -> None:
    """Create a key; its secret is printed this once (stored only as a hash)."""
    scopes = list(scope or [])
    if compreface is not None:
        if compreface not in COMPREFACE_SERVICES:
            raise typer.BadParameter(f"one of {', '.join(COMPREFACE_SERVICES)}",
                                     param_hint="--compreface")
        scopes = scopes or list(COMPREFACE_SERVICES[compreface])
        name = name or f"compreface-{compreface}"
    if not name or not scopes:
        raise typer.BadParameter("give --name and --scope (or --compreface SERVICE)")
    with access(data_dir) as service:
        secret, made = service.create_key(
            name=name, scopes=scopes, expires_in_days=parse_days(expires), created_by=None,
            secret=key, uuid=compreface is not None)
    if as_json:
        out.print(json.dumps({"id": made.id, "prefix": made.prefix, "secret": secret,
                              "scopes": list(made.scopes)}))
        return
    err.print(f"key {made.id} ({made.name}: {', '.join(made.scopes)}); the secret, shown once:")
    out.print(secret)


@keys_app.command("list")
def keys_list(data_dir: DataDir = None, as_json: JsonOut = False) -> None:
    """Every key, revoked ones included; never a secret."""
    with access(data_dir) as service:
        found = service.list_keys()
    rows: list[dict[str, Any]] = [
        {"id": k.id, "name": k.name, "prefix": k.prefix, "scopes": list(k.scopes),
         **{f: None if (v := getattr(k, f)) is None else v.isoformat()
            for f in ("created_at", "expires_at", "revoked_at", "last_used_at")}}
        for k in found]
    if as_json:
        out.print(json.dumps(rows, indent=2))
        return
    table = Table("name", "prefix", "scopes", "expires", "revoked", "last used", "id")
    for row in rows:
        table.add_row(row["name"], row["prefix"], " ".join(row["scopes"]),
                      *(str(row[f] or "")[:19] for f in ("expires_at", "revoked_at",
                                                         "last_used_at")), row["id"])
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="key id (see `facegate keys list`)")],
                data_dir: DataDir = None) -> None:
    """Revoke a key: every server sharing the gallery refuses it from its next request."""
    with access(data_dir) as service:
        service.revoke_key(key_id)
    out.print(f"key {key_id} revoked")


@keys_app.command("rotate")
def keys_rotate(key_id: Annotated[str, typer.Argument(help="key id (see `facegate keys list`)")],
                data_dir: DataDir = None) -> None:
    """A new secret (printed once) with the key's name, scopes and expiry; the old one is
    revoked."""
    with access(data_dir) as service:
        secret, key = service.rotate_key(key_id, created_by=None)
    err.print(f"key {key_id} revoked; new key {key.id} ({key.name}), the secret, shown once:")
    out.print(secret)
