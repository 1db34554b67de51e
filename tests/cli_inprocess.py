"""The ``facegate`` command run in the test process with typer's CliRunner, answering like
``subprocess.run(..., capture_output=True, text=True)``: ``returncode``, ``stdout``, ``stderr``.

A command that needs no process of its own (no kill, restart or signal) runs here, so the models
load once per test session instead of once per command (~3 s each: interpreter, imports and
models). As with the subprocesses it replaces, no ``FACEGATE_*`` variable of the test
environment reaches the command unless given in ``env``; an exception the command does not
handle fails the test with its traceback (a real process would print it and exit 1).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from facegate.cli import app


@dataclass(frozen=True, slots=True)
class Ran:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def facegate(*args: object, stdin: str | None = None, cwd: Path | None = None,
             env: dict[str, str] | None = None) -> Ran:
    argv = [str(a) for a in args]
    clean: dict[str, str | None] = {k: None for k in os.environ if k.startswith("FACEGATE_")}
    clean.update(env or {})
    with contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext():
        result = CliRunner().invoke(app, argv, input=stdin, env=clean, catch_exceptions=False)
    return Ran(args=argv, returncode=result.exit_code, stdout=result.stdout,
               stderr=result.stderr)
