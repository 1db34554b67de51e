"""``facegate audit``: the audit log, read from the gallery database directly (no server).

Registered on the main ``facegate`` command by ``cli.py``. Newest first; ``--json`` prints the
same items as ``GET /v1/audit`` and the cursor of the next page.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from facegate.cli_common import err, out
from facegate.config import Settings
from facegate.errors import FacegateError

Text = Annotated[str | None, typer.Option()]


def _moment(value: str | None, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        err.print(f"[red]VALIDATION_ERROR[/red]: {what} must be an ISO 8601 time")
        raise typer.Exit(2) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def audit(
    route: Annotated[str | None, typer.Option(
        help="path template (/v1/identify) or 'METHOD /path'")] = None,
    actor: Annotated[str | None, typer.Option(help="actor id, name or kind")] = None,
    identity: Annotated[str | None, typer.Option("--identity", help="identity id")] = None,
    since: Annotated[str | None, typer.Option(help="ISO 8601, inclusive (UTC if no zone)")] = None,
    until: Annotated[str | None, typer.Option(help="ISO 8601, exclusive")] = None,
    outcome: Annotated[str | None, typer.Option(
        help="ok, error, an HTTP status or an error code")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of an earlier page")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="gallery folder")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Who did what to which biometric data, newest first."""
    from facegate.services.audit import item, outcome_filter, route_filter
    from facegate.storage.audit import AuditQuery
    from facegate.storage.base import open_store

    settings = Settings(data_dir=data_dir) if data_dir else Settings()
    method, route = route_filter(route)
    try:
        query = AuditQuery(actor=actor, route=route, method=method, identity_id=identity,
                           since=_moment(since, "--since"), until=_moment(until, "--until"),
                           **outcome_filter(outcome))
        store = open_store(settings.storage_url)
        try:
            records, next_cursor = store.audit_page(query, limit=limit, cursor=cursor)
        finally:
            store.close()
    except FacegateError as exc:
        err.print(f"[red]{exc.code}[/red]: {exc.message}")
        raise typer.Exit(1 if exc.code != "VALIDATION_ERROR" else 2) from exc
    items = [item(r) for r in records]
    if as_json:
        out.print_json(json.dumps({"items": items, "next_cursor": next_cursor}))
        return
    for row in items:
        out.print(_line(row))
    if next_cursor:
        out.print(f"more: --cursor {next_cursor}")


def _line(row: dict[str, Any]) -> str:
    actor = row["actor"]
    who = actor["name"] or actor["id"] or actor["kind"]
    outcome = str(row["status"]) + (f" {row['error_code']}" if row["error_code"] else "")
    ids = ",".join(row["identity_ids"])
    return (f"{row['time'][:23]}  {who} ({actor['kind']})  {row['client'] or '-'}  "
            f"{row['method']} {row['route']}  {outcome}  {ids}").rstrip()
