"""The client libraries of CompreFace and DeepStack, from the registry, in their own virtual
environment (``.cache/compat-clients``, made once and reused while ``clients.txt`` is unchanged),
and a way to run a client script there against a live facegate."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
REQUIREMENTS = Path(__file__).with_name("clients.txt")
VENV = REPO / ".cache" / "compat-clients"


def _python() -> Path:
    return VENV / "bin" / "python"


@pytest.fixture(scope="session")
def client_python() -> Path:
    """The client venv's interpreter, with compreface-sdk, deepstack-sdk and deepstack-python."""
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    stamp = VENV / "requirements.sha256"
    if not (stamp.is_file() and stamp.read_text() == wanted and _python().is_file()):
        # No pip of its own (seeding one costs more than the clients) and no bytecode compiled
        # ahead: this venv only runs the few modules the clients import (written on first use).
        subprocess.run([sys.executable, "-m", "venv", "--clear", "--without-pip", str(VENV)],
                       check=True)
        subprocess.run([sys.executable, "-m", "pip", "--python", str(_python()), "install",
                        "--quiet", "--disable-pip-version-check", "--no-compile",
                        "-r", str(REQUIREMENTS)], check=True)
        stamp.write_text(wanted)
    return _python()


def run_client(python: Path, script: str, *args: str, timeout_s: float = 120) -> Any:
    """Run ``script`` (Python source) with the client venv; it prints one JSON value last,
    which is returned. A failing script fails the test with its output."""
    # The clients' bytecode is written on first use (pip compiles nothing ahead), also where
    # the environment says not to write any.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run([str(python), "-c", script, *args], capture_output=True, text=True,
                          timeout=timeout_s, cwd=REPO, env=env)
    assert done.returncode == 0, f"client script failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])
