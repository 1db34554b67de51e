"""What every CLI command module shares: the consoles it prints on, the common options, and
opening the gallery of ``--data-dir`` with FacegateError printed as ``code: message``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from facegate.errors import FacegateError

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="gallery folder [default: ./data "
                                               "or FACEGATE_DATA_DIR]")]
JsonOut = Annotated[bool, typer.Option("--json", help="print JSON")]


def open_facegate(data_dir: Path | None) -> Any:
    """The built facegate of ``data_dir`` (or the settings' own); exit 2 on bad settings."""
    from facegate.bootstrap import build
    from facegate.config import Settings

    try:
        settings = Settings(data_dir=data_dir) if data_dir else Settings()
    except ValueError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc
    return build(settings)


def fail(exc: FacegateError) -> typer.Exit:
    err.print(f"[red]{exc.code}[/red]: {exc.message}")
    return typer.Exit(1)


@contextmanager
def opened(data_dir: Path | None) -> Iterator[Any]:
    """The built facegate, closed on the way out; a FacegateError becomes ``code: message``
    and exit status 1."""
    facegate = open_facegate(data_dir)
    try:
        yield facegate
    except FacegateError as exc:
        raise fail(exc) from exc
    finally:
        facegate.close()


def resolve(facegate: Any, who: str) -> Any:
    """The identity with id or exact name ``who``; IDENTITY_NOT_FOUND and exit 1 if none."""
    try:
        return facegate.gallery.get_identity(who)
    except FacegateError:
        found = facegate.gallery.find_by_name(who)
        if found is None:
            err.print(f"[red]IDENTITY_NOT_FOUND[/red]: no identity with id or name {who!r}")
            raise typer.Exit(1) from None
        return found
