"""``facegate db migrate`` and ``facegate migrate-store``: the gallery database's own commands.

Registered on the main ``facegate`` command by ``cli.py``. URLs are shown without passwords.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from facegate.cli_common import err, out
from facegate.config import Settings
from facegate.errors import FacegateError

db_app = typer.Typer(help="The gallery database: schema migrations.", no_args_is_help=True)

StoreUrl = Annotated[str | None, typer.Option(
    "--url", help="gallery URL [default: FACEGATE_STORAGE__URL or the SQLite file in "
    "--data-dir]")]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="gallery folder (SQLite)")]


def _safe(url: str) -> str:
    from facegate.storage.pg_wire import redact_url

    return redact_url(url)


@db_app.command("migrate")
def db_migrate(url: StoreUrl = None, data_dir: DataDir = None) -> None:
    """Bring the gallery's schema up to date (servers also do this when they start)."""
    from facegate.storage.base import open_store

    try:
        settings = Settings(data_dir=data_dir) if data_dir else Settings()
    except ValueError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc
    url = url or settings.storage_url
    try:
        if url.startswith(("postgresql://", "postgres://")):
            from facegate.storage.postgres import migrate_database

            applied, version = migrate_database(url)
            done = ", ".join(map(str, applied)) if applied else "none pending"
            out.print(f"{_safe(url)}: schema version {version} (applied: {done})")
            return
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        open_store(url).close()  # SQLite and memory migrate when they open
        out.print(f"{_safe(url)}: schema up to date")
    except FacegateError as exc:
        err.print(f"[red]{exc.code}[/red]: {exc.message}")
        raise typer.Exit(1) from exc


def migrate_store(
    source: Annotated[str, typer.Option("--from", help="gallery to copy, e.g. "
                                        "sqlite:///data/gallery.sqlite3")],
    target: Annotated[str, typer.Option("--to", help="empty gallery to fill, e.g. "
                                        "postgresql://facegate@db/facegate")],
) -> None:
    """Copy a whole gallery into an empty one (another backend too), verified by counts and
    SHA-256 checksums of every identity, descriptor and chip."""
    from facegate.services.store_copy import copy_gallery
    from facegate.storage.base import GalleryStore, open_store

    opened: list[GalleryStore] = []
    try:
        opened.append(open_store(source))
        opened.append(open_store(target))
        report = copy_gallery(opened[0], opened[1])
    except FacegateError as exc:
        err.print(f"[red]{exc.code}[/red]: {exc.message}")
        raise typer.Exit(1) from exc
    finally:
        for store in opened:
            store.close()
    digest = report.target
    out.print(f"copied {digest.identities} identities, {digest.faces} faces, "
              f"{digest.classifiers} classifiers from "
              f"{_safe(source)} to {_safe(target)}; verified: counts and sha256 {digest.sha256} "
              "match")
