"""``facegate review list|name|assign|ignore|discard``: the unknown-face review queue of a
running server, over its API (``client.ReviewClient``; docs/governance.md). Registered on the
main ``facegate`` command by ``cli.py``.

An action names the cluster ``--version`` it was decided on (``review list`` shows it); the
server refuses it (409 REVIEW_CLUSTER_CHANGED, nothing done) when the cluster changed since.
Without ``--version`` it applies to the cluster as it is when the command runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import httpx
import typer
from rich.table import Column, Table

from facegate.cli_common import JsonOut, err, out
from facegate.client import ApiError, ReviewClient
from facegate.config import DEFAULT_PORT

review_app = typer.Typer(help="The unknown-face review queue of a running server.",
                         no_args_is_help=True)
Server = Annotated[str, typer.Option(envvar="FACEGATE_SERVER", help="server URL")]
ApiKey = Annotated[str | None, typer.Option(envvar="FACEGATE_API_KEY")]
Cluster = Annotated[str, typer.Argument(help="cluster id (review list)")]
Version = Annotated[int | None, typer.Option(
    help="the cluster version you decided on [default: as it is now]")]
Faces = Annotated[list[str] | None, typer.Option(
    "--face", help="only this face of the cluster (repeat for more)")]
DEFAULT_SERVER = f"http://127.0.0.1:{DEFAULT_PORT}"


def _call(server: str, api_key: str | None,
          work: Callable[[ReviewClient], dict[str, Any]]) -> dict[str, Any]:
    try:
        with ReviewClient(server, api_key=api_key) as client:
            return work(client)
    except ApiError as exc:
        err.print(f"[red]{exc.code}[/red]: {exc.message}")
        raise typer.Exit(1) from exc
    except httpx.TransportError as exc:
        err.print(f"[red]error:[/red] cannot reach the server at {server}: {exc}")
        raise typer.Exit(2) from exc


@review_app.command("list")
def review_list(
    status: Annotated[str, typer.Option(help="open, ignored or named")] = "open",
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    server: Server = DEFAULT_SERVER, api_key: ApiKey = None, as_json: JsonOut = False,
) -> None:
    """Clusters of unknown faces, largest first, then most recently seen."""
    page = _call(server, api_key, lambda c: c.clusters(status=status, limit=limit))
    if as_json:
        out.print(json.dumps(page, indent=2), markup=False)
        return
    if not page["enabled"]:
        err.print("the review queue is off on this server (FACEGATE_REVIEW__ENABLED=true)")
    table = Table(Column("cluster", no_wrap=True, min_width=32), "status", "version", "faces",
                  "seen", "last seen (UTC)", Column("identity", no_wrap=True))
    for c in page["items"]:
        table.add_row(c["id"], c["status"], str(c["version"]), str(c["size"]), str(c["seen"]),
                      c["last_seen"][5:16].replace("T", " "), c["identity_id"] or "")
    out.print(table)
    out.print(f"{len(page['items'])} of {page['total']} {status} clusters")


def _acted(answer: dict[str, Any], as_json: bool) -> None:
    if as_json:
        out.print(json.dumps(answer, indent=2), markup=False)
        return
    cluster = answer["cluster"]
    where = f"cluster {cluster['id']} is {cluster['status']}" if cluster else "deleted"
    who = f", identity {answer['identity_id']}" if answer["identity_id"] else ""
    out.print(f"{answer['action']}: {answer['faces']} faces ({where}{who}; "
              f"{len(answer['enrolled'])} enrolled)")


@review_app.command("name")
def review_name(cluster: Cluster, name: Annotated[str, typer.Argument(help="the new person")],
                version: Version = None, face: Faces = None, server: Server = DEFAULT_SERVER,
                api_key: ApiKey = None, as_json: JsonOut = False) -> None:
    """Create a person NAME enrolled with the cluster's best faces."""
    _acted(_call(server, api_key, lambda c: c.act(cluster, "name", version=version,
                                                  face_ids=face, name=name)), as_json)


@review_app.command("assign")
def review_assign(cluster: Cluster,
                  identity: Annotated[str, typer.Argument(help="an enrolled person's id")],
                  version: Version = None, face: Faces = None, server: Server = DEFAULT_SERVER,
                  api_key: ApiKey = None, as_json: JsonOut = False) -> None:
    """Enrol the cluster's best faces to an existing person."""
    _acted(_call(server, api_key, lambda c: c.act(cluster, "assign", version=version,
                                                  face_ids=face, identity_id=identity)),
           as_json)


@review_app.command("ignore")
def review_ignore(cluster: Cluster, version: Version = None, face: Faces = None,
                  server: Server = DEFAULT_SERVER, api_key: ApiKey = None,
                  as_json: JsonOut = False) -> None:
    """Keep the cluster as "nobody in the gallery": its faces are not queued again."""
    _acted(_call(server, api_key, lambda c: c.act(cluster, "ignore", version=version,
                                                  face_ids=face)), as_json)


@review_app.command("discard")
def review_discard(cluster: Cluster, version: Version = None, face: Faces = None,
                   server: Server = DEFAULT_SERVER, api_key: ApiKey = None,
                   as_json: JsonOut = False) -> None:
    """Delete the cluster's faces (or those of --face) now."""
    _acted(_call(server, api_key, lambda c: c.act(cluster, "discard", version=version,
                                                  face_ids=face)), as_json)
