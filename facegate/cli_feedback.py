"""``facegate feedback REQUEST_ID FACE_INDEX correct|wrong|is [--identity ID]``: a verdict on
one face of a running server's identify/verify answer, over ``POST /v1/feedback``."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer

from facegate.cli_common import JsonOut, err, out
from facegate.config import DEFAULT_PORT


class Verdict(StrEnum):
    correct = "correct"
    wrong = "wrong"
    is_ = "is"


_EFFECTS = {"none": "recorded", "negative_anchor": "stored as a negative anchor of",
            "enrolled": "enrolled to"}


def feedback(
    request_id: Annotated[str, typer.Argument(help="the answer's request_id (X-Request-ID)")],
    face_index: Annotated[int, typer.Argument(help="the face's place in the answer (0 first)")],
    verdict: Annotated[Verdict, typer.Argument(help="correct, wrong, or is (with --identity)")],
    identity: Annotated[str | None, typer.Option(
        "--identity", help="for 'is': the identity id the face is")] = None,
    server: Annotated[str, typer.Option(help="server URL")] = f"http://127.0.0.1:{DEFAULT_PORT}",
    api_key: Annotated[str | None, typer.Option(envvar="FACEGATE_API_KEY")] = None,
    json_out: JsonOut = False,
) -> None:
    """Tell a running server whether it named a face right: 'wrong' keeps the face as a
    negative anchor of the identity it was named as, 'is' enrols it to --identity."""
    import httpx

    from facegate.client import send_feedback

    try:
        _, answer = send_feedback(request_id, face_index, verdict.value,
                                  identity_id=identity, server=server, api_key=api_key)
    except httpx.TransportError as exc:
        err.print(f"[red]error:[/red] cannot reach the server at {server}: {exc}")
        raise typer.Exit(2) from exc
    if json_out:
        out.print_json(json.dumps(answer))
    if "error" in answer:
        if not json_out:
            err.print(f"[red]{answer['error']['code']}[/red]: {answer['error']['message']}")
        raise typer.Exit(1)
    if not json_out:
        effect = _EFFECTS.get(answer["effect"], answer["effect"])
        made = answer.get("anchor_id") or answer.get("face_id")
        out.print(f"{answer['verdict']}: face {answer['face_index']} of {answer['request_id']} "
                  f"{effect} {answer['identity_id']}" + (f" ({made})" if made else "")
                  + (" — given before, nothing added" if answer["repeated"] else ""),
                  highlight=False)
