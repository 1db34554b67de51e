"""``facegate retention run`` and the people commands of governance (``people consent``,
``people expires``), and how the CLI prints an erasure receipt (docs/governance.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from facegate.cli_common import DataDir, JsonOut, err, fail, open_facegate, out, resolve
from facegate.domain import Consent
from facegate.errors import FacegateError

retention_app = typer.Typer(help="Erase what has outlived its retention (docs/governance.md).",
                            no_args_is_help=True)
Who = Annotated[str, typer.Argument(help="id or exact name")]


@retention_app.command("run")
def retention_run(
    data_dir: DataDir = None, json_out: JsonOut = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would go, change "
                                          "nothing")] = False,
) -> None:
    """Erase expired identities (one transaction each), drop delivered events past their age,
    and expire kept probes and queued unknown faces; each erasure is audited."""
    from facegate.services.audit import command_record
    from facegate.services.retention import retention

    facegate = open_facegate(data_dir)
    try:
        user = command_record("retention run").actor_name or "cli"
        report = retention(facegate.settings, facegate.gallery, facegate.store,
                           actor=("cli", None, user)).run(dry_run=dry_run)
    except FacegateError as exc:
        raise fail(exc) from exc
    finally:
        facegate.close()
    if json_out:
        out.print_json(json.dumps(report))
        return
    verb = "would erase" if dry_run else "erased"
    out.print(f"{verb} {len(report['identities'])} expired identities")
    for item in report["identities"]:
        when = f" (expired {item['expires_at']})" if item.get("expires_at") else ""
        out.print(f"  {item['identity_id']}  {item['samples']} faces{when}")
    out.print(f"{'would drop' if dry_run else 'dropped'} {report['events']} delivered events "
              "past their age")
    for key in ("kept_probes", "review_items"):
        if key in report:
            count = "some" if report[key] is None else report[key]
            out.print(f"{'would expire' if dry_run else 'expired'} {count} {key.replace('_', ' ')}")


def people_consent(
    who: Who, purpose: Annotated[str, typer.Option(help="what the consent is for")],
    reference: Annotated[str | None, typer.Option(help="where its proof is kept")] = None,
    given_at: Annotated[datetime | None, typer.Option(help="when it was given [now]")] = None,
    data_dir: DataDir = None,
) -> None:
    """Record a person's consent (replaces an earlier record)."""
    consent = Consent(given_at=(given_at or datetime.now(UTC)), purpose=purpose,
                      reference=reference)
    _update(who, data_dir, consent=consent)


def people_expires(
    who: Who, at: Annotated[datetime | None, typer.Option(help="when to erase them")] = None,
    never: Annotated[bool, typer.Option("--never", help="keep them until deleted")] = False,
    data_dir: DataDir = None,
) -> None:
    """Set when the retention job erases a person (``--at TIME`` or ``--never``)."""
    if (at is None) == (not never):
        err.print("give exactly one of --at or --never")
        raise typer.Exit(2)
    _update(who, data_dir, expires_at=None if never else at)


def _update(who: str, data_dir: Any, **changes: Any) -> None:
    from facegate.api import views

    facegate = open_facegate(data_dir)
    try:
        identity = resolve(facegate, who)
        updated = facegate.gallery.update_identity(identity.id, **changes)
        from facegate.services.audit import command_record

        if facegate.settings.audit.enabled:
            facegate.store.append_audit([command_record(
                "people update", identity_ids=(identity.id,), changed=sorted(changes))])
    except FacegateError as exc:
        raise fail(exc) from exc
    finally:
        facegate.close()
    out.print_json(json.dumps(views.identity(updated)))


def print_receipt(receipt: dict[str, Any]) -> None:
    """The erasure receipt, one fact a line (what ``DELETE /v1/identities/{id}`` answers)."""
    out.print("erasure receipt:")
    for key, value in receipt.items():
        shown = f"{value['kind']} {value['name'] or ''}".strip() if key == "actor" else value
        out.print(f"  {key}: {shown}")
