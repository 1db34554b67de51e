"""The ``facegate`` command: serve, enrol, identify, verify, people, client, export, import
(``db migrate`` and ``migrate-store`` live in ``cli_store.py``, ``evaluate`` and ``calibrate``
in ``cli_evaluate.py``, ``train`` and ``models`` in ``cli_train.py``, ``system`` in
``cli_system.py``)."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import pydantic
import typer
from rich.console import Console
from rich.table import Column, Table

from facegate.cli_access import keys_app, users_app
from facegate.cli_audit import audit
from facegate.cli_common import DataDir, JsonOut, err, fail, out, resolve
from facegate.cli_evaluate import calibrate, evaluate_app
from facegate.cli_feedback import feedback
from facegate.cli_governance import people_consent, people_expires, print_receipt, retention_app
from facegate.cli_liveness import liveness
from facegate.cli_review import review_app
from facegate.cli_store import db_app, migrate_store
from facegate.cli_system import system
from facegate.cli_train import enrol_paths, models_app, train
from facegate.config import DEFAULT_PORT, Settings
from facegate.errors import FacegateError

app = typer.Typer(help="Self-hosted face recognition and face authentication.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
people_app = typer.Typer(help="List, show and delete enrolled people.", no_args_is_help=True)
client_app = typer.Typer(help="Talk to a running facegate server.", no_args_is_help=True)
app.add_typer(people_app, name="people")
app.add_typer(client_app, name="client")
app.add_typer(db_app, name="db")
app.command("migrate-store")(migrate_store)
app.add_typer(evaluate_app, name="evaluate")
app.command("calibrate")(calibrate)
app.command("liveness")(liveness)
app.command("train")(train)
app.command("system")(system)
app.add_typer(models_app, name="models")
app.command("audit")(audit)
app.command("feedback")(feedback)
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(review_app, name="review")
app.add_typer(retention_app, name="retention")
people_app.command("consent")(people_consent)
people_app.command("expires")(people_expires)

Threshold = Annotated[float | None, typer.Option(help="distance threshold [default: 0.6]")]
ExistingFile = Annotated[Path, typer.Argument(exists=True, dir_okay=False)]


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the command line's values on top (deep-merged)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    if isinstance(given.get("server"), dict):
        given["server"] = {k: v for k, v in given["server"].items() if v is not None}
    try:
        return Settings(**given)
    except pydantic.ValidationError as exc:
        # Only where and what: a refused value may be a secret (an API key), so it is not shown.
        for problem in exc.errors():
            where = ".".join(str(part) for part in problem["loc"]) or "settings"
            err.print(f"[red]configuration error:[/red] {where}: {problem['msg']}")
        raise typer.Exit(2) from exc


def _open(data_dir: Path | None) -> Any:
    from facegate.bootstrap import build

    return build(load_settings(data_dir=data_dir))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on [127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help=f"port [{DEFAULT_PORT}]")] = None,
    data_dir: DataDir = None,
    api_key: Annotated[list[str] | None, typer.Option(
        help="required X-API-Key (repeatable); visible to other users in `ps`: prefer "
        "--api-key-file or FACEGATE_SERVER__API_KEYS")] = None,
    api_key_file: Annotated[Path | None, typer.Option(
        help="file with the required API keys, one per line [FACEGATE_SERVER__API_KEYS_FILE]")] \
        = None,
    storage_url: Annotated[str | None, typer.Option(
        help="gallery URL: sqlite:///PATH or postgresql://… [FACEGATE_STORAGE__URL]")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="serve HTTPS with this certificate (PEM)")]
    = None,
    tls_key: Annotated[Path | None, typer.Option(help="... and this private key (PEM)")] = None,
    tls_self_signed: Annotated[bool | None, typer.Option(
        "--tls-self-signed", help="serve HTTPS with a self-signed certificate made once in "
        "DATA_DIR/tls/")] = None,
    tls_host: Annotated[list[str] | None, typer.Option(
        help="host name or address the self-signed certificate is for (repeatable) "
        "[localhost, 127.0.0.1, ::1, --host]")] = None,
) -> None:
    """Serve the REST API (OpenAPI docs at /docs)."""
    from facegate.api.serve import run

    server = {"host": host, "port": port, "api_keys": api_key or None,
              "api_keys_file": api_key_file, "tls_cert": tls_cert, "tls_key": tls_key,
              "tls_self_signed": tls_self_signed, "tls_hosts": tls_host or None}
    storage = {"url": storage_url} if storage_url else None
    run(load_settings(data_dir=data_dir, server=server, storage=storage),
        lambda text: err.print(text, markup=False, emoji=False))  # ":AB:" is not an emoji


@app.command()
def enroll(
    paths: Annotated[list[Path], typer.Argument(help="images, folders (one per person, or "
                                                "name_N.jpg files) or zips of either")],
    data_dir: DataDir = None,
    largest: Annotated[bool, typer.Option(help="take the largest face of multi-face photos")] \
        = False,
    quiet: Annotated[bool, typer.Option(help="print only refusals and the summary")] = False,
) -> None:
    """Enrol photos into the gallery, one identity per person name."""
    facegate = _open(data_dir)
    counts = enrol_paths(facegate, paths, largest=largest, quiet=quiet)
    facegate.close()
    if counts["refused"]:
        raise typer.Exit(1)


def face_line(source: str, face: dict[str, Any]) -> str:
    """``obama1.jpg: Identified obama (distance 0.38)`` or ``UNKNOWN (nearest …)``."""
    if face["status"] == "identified":
        ident = face["identity"]
        return f"{source}: Identified {ident['name']} (distance {ident['distance']:.2f})"
    if face["candidates"]:
        near = face["candidates"][0]
        return f"{source}: UNKNOWN (nearest {near['name']}, distance {near['distance']:.2f})"
    return f"{source}: UNKNOWN (the gallery is empty)"


@app.command()
def identify(image: ExistingFile, data_dir: DataDir = None, threshold: Threshold = None,
             json_out: JsonOut = False) -> None:
    """Name every face in a photo, or UNKNOWN."""
    from facegate.api import views

    facegate = _open(data_dir)
    try:
        result = facegate.recognition.identify(image.read_bytes(), threshold=threshold)
    except FacegateError as exc:
        raise fail(exc) from exc
    body = views.identify(result)
    if json_out:
        out.print_json(json.dumps(body))
    elif not body["faces"]:
        out.print(f"{image.name}: no face found")
    for face in [] if json_out else body["faces"]:
        out.print(face_line(image.name, face), highlight=False)


@app.command()
def verify(image_a: ExistingFile, image_b: ExistingFile, data_dir: DataDir = None,
           threshold: Threshold = None, json_out: JsonOut = False) -> None:
    """Are the faces in two photos the same person? Exit code 0 if so, 1 if not, 2 when a
    photo cannot be used (no face, several faces, not an image)."""
    from facegate.api import views

    facegate = _open(data_dir)
    try:
        result = facegate.recognition.verify_images(
            image_a.read_bytes(), image_b.read_bytes(), threshold=threshold)
    except FacegateError as exc:
        fail(exc)
        raise typer.Exit(2) from exc  # 1 means "different people"; an error must not
    if json_out:
        out.print_json(json.dumps(views.verify(result, mode="image")))
    else:
        verdict = "SAME person" if result.match else "DIFFERENT people"
        out.print(f"{verdict} (distance {result.distance:.2f}, threshold {result.threshold})")
    raise typer.Exit(0 if result.match else 1)


@people_app.command("list")
def people_list(data_dir: DataDir = None, name: str | None = None, limit: int = 50,
                offset: int = 0, json_out: JsonOut = False) -> None:
    """One page of enrolled people."""
    from facegate.api import views

    facegate = _open(data_dir)
    items, total = facegate.gallery.list_identities(name_contains=name, limit=limit,
                                                    offset=offset)
    if json_out:
        out.print_json(json.dumps({"items": [views.identity(i) for i in items], "total": total}))
        return
    # ids are never cut short: people show/delete take them
    table = Table(Column("id", no_wrap=True, min_width=32), "name", "faces", "external id",
                  "created")
    for item in items:
        table.add_row(item.id, item.name, str(item.face_count), item.external_id or "",
                      item.created_at.strftime("%Y-%m-%d %H:%M"))
    # a pipe (a script, a test) gets whole cells, not a table cut to 80 columns
    (out if out.is_terminal else Console(width=250, highlight=False)).print(table)
    out.print(f"{len(items)} of {total}")


@people_app.command("show")
def people_show(who: Annotated[str, typer.Argument(help="id or exact name")],
                data_dir: DataDir = None, json_out: JsonOut = False) -> None:
    """One person and their face samples."""
    from facegate.api import views

    facegate = _open(data_dir)
    identity = resolve(facegate, who)
    faces = facegate.gallery.list_faces(identity.id)
    body = {**views.identity(identity), "faces": [views.sample(f) for f in faces]}
    if json_out:
        out.print_json(json.dumps(body))
        return
    out.print(f"{identity.name}  (id {identity.id}, {len(faces)} faces)")
    for face in faces:
        out.print(f"  face {face.id}  score {face.detection_score}  {face.created_at:%Y-%m-%d}")


@people_app.command("delete")
def people_delete(who: Annotated[str, typer.Argument(help="id or exact name")],
                  data_dir: DataDir = None,
                  yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False) -> None:
    """Delete a person with all their face samples, and print the erasure receipt."""
    from facegate.services import governance
    from facegate.services.audit import command_record

    facegate = _open(data_dir)
    identity = resolve(facegate, who)
    if not yes and not typer.confirm(f"Delete {identity.name} ({identity.id})?"):
        raise typer.Exit(1)
    erased = facegate.gallery.erase_identity(identity.id)
    receipt = governance.receipt(identity.id, erased, actor=governance.actor_of(
        "cli", None, command_record("people delete").actor_name))
    _audited(facegate, "people delete", identity_ids=(identity.id,), faces=len(erased),
             receipt=receipt)
    out.print(f"deleted {identity.name} ({identity.id}) and {len(erased)} faces")
    print_receipt(receipt)


@client_app.command("test")
def client_test(
    folder: Annotated[Path, typer.Argument(exists=True, file_okay=False)],
    server: Annotated[str, typer.Option(help="server URL")] = f"http://127.0.0.1:{DEFAULT_PORT}",
    api_key: Annotated[str | None, typer.Option(envvar="FACEGATE_API_KEY")] = None,
    threshold: Threshold = None,
) -> None:
    """Send every image in FOLDER to a running server; one line per face."""
    import httpx

    from facegate.client import identify_files

    failures = 0
    results = identify_files(folder, server=server, api_key=api_key, threshold=threshold)
    try:
        for source, result in results:
            failures += _print_result(source, result)
    except httpx.TransportError as exc:
        err.print(f"[red]error:[/red] cannot reach the server at {server}: {exc}")
        raise typer.Exit(2) from exc
    if failures:
        raise typer.Exit(1)


def _print_result(source: str, result: dict[str, Any]) -> int:
    """Print one response's lines; 1 if it was a failure (other than no face found)."""
    if "error" in result:
        error = result["error"]
        if error["code"] == "UNAUTHORIZED":  # every other file would fail the same way
            err.print(f"[red]UNAUTHORIZED[/red]: {error['message']} (use --api-key or "
                      "FACEGATE_API_KEY)")
            raise typer.Exit(1)
        message = "no face found" if error["code"] == "NO_FACE_FOUND" else \
            f"{error['code']}: {error['message']}"
        out.print(f"{source}: {message}", highlight=False)
        return int(error["code"] != "NO_FACE_FOUND")
    for face in result["faces"]:
        out.print(face_line(source, face), highlight=False)
    return 0


@app.command("export")
def export_cmd(file: Path, data_dir: DataDir = None) -> None:
    """Write the whole gallery (identities, samples, descriptors, chips) to a zip file."""
    from facegate.services.transfer import export_gallery

    facegate = _open(data_dir)
    identities, faces = export_gallery(facegate.store, file)
    _audited(facegate, "export", identities=identities, faces=faces)
    out.print(f"exported {identities} identities, {faces} faces to {file}")


@app.command("import")
def import_cmd(file: ExistingFile, data_dir: DataDir = None) -> None:
    """Add every identity of an export file to the gallery."""
    from facegate.services.transfer import import_gallery

    facegate = _open(data_dir)
    try:
        identities, faces = import_gallery(facegate.store, file)
    except FacegateError as exc:
        _audited(facegate, "import", failed=exc.code)
        raise fail(exc) from exc
    _audited(facegate, "import", identities=identities, faces=faces)
    out.print(f"imported {identities} identities, {faces} faces from {file}")


def _audited(facegate: Any, command: str, **fields: Any) -> None:
    """The command's row in the audit log (written at once: a command has no writer thread)."""
    from facegate.services.audit import command_record

    if facegate.settings.audit.enabled:
        facegate.store.append_audit([command_record(command, **fields)])


def main() -> None:
    """Entry point: logs at FACEGATE_LOG_LEVEL (default INFO when serving, else WARNING)."""
    serving = len(sys.argv) > 1 and sys.argv[1] == "serve"
    level = os.environ.get("FACEGATE_LOG_LEVEL", "INFO" if serving else "WARNING").upper()
    logging.basicConfig(level=getattr(logging, level, logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app()
