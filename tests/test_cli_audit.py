"""``facegate audit`` reads the log from the gallery file; export and import leave rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from facegate.cli import app


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_export_and_a_failed_import_are_in_the_log(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    assert run("export", str(tmp_path / "g.zip"), "--data-dir", data).exit_code == 0
    garbage = tmp_path / "not.zip"
    garbage.write_bytes(b"this is not a zip file")
    assert run("import", str(garbage), "--data-dir", data).exit_code == 1

    listed = run("audit", "--json", "--data-dir", data)
    assert listed.exit_code == 0, listed.output
    page = json.loads(listed.output)
    routes = [(r["route"], r["error_code"], r["actor"]["kind"]) for r in page["items"]]
    assert routes[1] == ("facegate export", None, "cli")
    assert routes[0][0] == "facegate import" and routes[0][1] and routes[0][2] == "cli"
    assert page["items"][1]["details"] == {"identities": 0, "faces": 0}

    failed = json.loads(run("audit", "--json", "--outcome", "error", "--data-dir", data).output)
    assert [r["route"] for r in failed["items"]] == ["facegate import"]
    one = json.loads(run("audit", "--json", "--limit", "1", "--data-dir", data).output)
    assert len(one["items"]) == 1 and one["next_cursor"]
    rest = run("audit", "--json", "--cursor", one["next_cursor"], "--data-dir", data)
    assert [r["route"] for r in json.loads(rest.output)["items"]] == ["facegate export"]
    table = run("audit", "--route", "facegate export", "--data-dir", data)
    assert "facegate export" in table.output and "facegate import" not in table.output


def test_bad_filters_exit_2(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    assert run("audit", "--since", "yesterday", "--data-dir", data).exit_code == 2
    assert run("audit", "--outcome", "maybe", "--data-dir", data).exit_code == 2
    assert run("audit", "--cursor", "garbage", "--data-dir", data).exit_code == 2
