"""``facegate system``: the model weights a server with these settings loads, with their files,
SHA-256, licences (SPDX ids), runtime and provider (what ``GET /v1/system`` answers)."""

from __future__ import annotations

import json

import pydantic
import typer

from facegate import __version__
from facegate.cli_common import JsonOut, err, out
from facegate.config import Settings
from facegate.errors import FacegateError


def system(json_out: JsonOut = False) -> None:
    """List the model weights a server with these settings (FACEGATE_* variables) loads."""
    from facegate.bootstrap import system_report

    try:
        models = system_report(Settings())
    except pydantic.ValidationError as exc:
        err.print(f"[red]configuration error:[/red] {exc.error_count()} setting(s) refused")
        raise typer.Exit(2) from exc
    except FacegateError as exc:
        err.print(f"[red]{exc.code}[/red]: {exc.message}")
        raise typer.Exit(1) from exc
    refused = [m["name"] for m in models if not m["commercial_use"]]
    if refused:
        err.print(f"[yellow]not for commercial use:[/yellow] {', '.join(refused)}")
    if json_out:
        out.print(json.dumps({"version": __version__, "models": models}, indent=2))
        return
    for model in models:
        out.print(f"{model['role']:<10} {model['file'] or '(HOG, built into dlib)':<40} "
                  f"{model['licence']:<12} {model['runtime']}/{model['provider']}  "
                  f"sha256 {model['sha256'] or '-'}")
