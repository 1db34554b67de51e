"""``facegate train`` and ``facegate models list|show|activate|deactivate|delete``: fit an
identification classifier over the gallery (after enrolling labelled photos), and choose the
one identify uses. Also the enrolment loop ``facegate enroll`` shares.

Registered on the main ``facegate`` command by ``cli.py``. Never prints descriptors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from facegate.cli_common import DataDir, JsonOut, err, opened, out
from facegate.errors import ArchiveError, ArchiveTooLargeError

models_app = typer.Typer(help="List, activate and delete trained classifiers.",
                         no_args_is_help=True)

ClassifierId = Annotated[str, typer.Argument(help="classifier id (see `facegate models list`)")]


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=err, transient=True)


def enrol_paths(facegate: Any, paths: list[Path], *, largest: bool, quiet: bool,
                console: Console = out) -> dict[str, int]:
    """Enrol every photo under ``paths`` (one identity per person), printing refusals and a
    summary on ``console``; returns the counts of photos enrolled, refused, already enrolled."""
    from facegate.services.archives import ArchiveLimits
    from facegate.services.bulk import collect, enroll_photos

    limits = ArchiveLimits.from_settings(facegate.settings.image)
    counts = {"photos": 0, "enrolled": 0, "refused": 0, "duplicate": 0}
    try:
        with collect(paths, limits=limits) as photos, progress_bar() as progress:
            counts["photos"] = len(photos)
            task = progress.add_task("enrolling", total=len(photos))
            for outcome in enroll_photos(facegate.gallery, photos,
                                         multiple_faces="largest" if largest else None):
                progress.advance(task)
                _report(progress.console, outcome, counts, quiet=quiet)
    except (ArchiveError, ArchiveTooLargeError) as exc:  # the whole zip, before any photo
        err.print(f"[red]{exc.code}[/red]: {exc.message}")
        raise typer.Exit(2) from exc
    except OSError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    identities, faces = facegate.gallery.counts()
    console.print(f"{counts['photos']} photos: {counts['enrolled']} enrolled, "
                  f"{counts['refused']} refused, {counts['duplicate']} already enrolled; "
                  f"gallery: {identities} identities, {faces} faces")
    return counts


def _report(console: Console, outcome: Any, counts: dict[str, int], *, quiet: bool) -> None:
    """One photo's line (names and messages are printed as they are, never as markup)."""
    person, source = escape(f"{outcome.person:<20}"), escape(outcome.source)
    if outcome.status == "enrolled":
        counts["enrolled"] += 1
        if not quiet:
            console.print(f"enrolled  {person} {source}")
        return
    counts["duplicate" if outcome.code == "DUPLICATE_FACE" else "refused"] += 1
    console.print(f"[yellow]refused[/yellow]   {person} {source}: {outcome.code}: "
                  f"{escape(outcome.message or '')}")


def train(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="labelled photos to enrol first: folders (one per person, or name_N.jpg files) or "
             "zips of either; none: train on the gallery as it is")] = None,
    data_dir: DataDir = None,
    kind: Annotated[Literal["knn", "svm"], typer.Option(
        help="k-nearest-neighbours or a linear SVM (one-vs-rest)")] = "svm",
    tune: Annotated[bool, typer.Option(
        help="cross-validated grid search (knn: k, weighting; svm: C)")] = False,
    folds: Annotated[int, typer.Option(help="cross-validation folds")] = 5,
    seed: Annotated[int, typer.Option(help="seed of the fold assignment")] = 0,
    activate: Annotated[bool, typer.Option(help="make identify use it at once")] = False,
    largest: Annotated[bool, typer.Option(help="take the largest face of multi-face photos")] \
        = False,
    quiet: Annotated[bool, typer.Option(help="print only refusals and the summary")] = False,
    json_out: JsonOut = False,
) -> None:
    """Enrol labelled photos, then fit, validate and store an identification classifier."""
    from facegate.api import views
    from facegate.services.training import train as fit_and_store

    with opened(data_dir) as facegate:
        if paths:
            enrol_paths(facegate, paths, largest=largest, quiet=quiet or json_out,
                        console=err if json_out else out)
        with progress_bar() as progress:
            task = progress.add_task("cross-validating", total=None)
            info = fit_and_store(
                facegate.store, kind=kind, tune=tune, folds=folds, seed=seed,
                progress=lambda done, total: progress.update(task, completed=done, total=total))
        if activate:
            info = facegate.classifiers.activate(info.id)
    if json_out:
        out.print_json(json.dumps(views.classifier(info)))
        return
    for line in describe(info):
        out.print(line)
    out.print("identify uses it now" if activate else
              f"make identify use it: facegate models activate {info.id}")


def describe(info: Any) -> list[str]:
    """What a trained classifier is and how well it validated, in a few lines."""
    params = ", ".join(f"{k}={v}" for k, v in info.params.items())
    lines = [f"classifier {info.id}: {info.kind} ({params}) on {info.samples} samples of "
             f"{info.identities} identities"]
    m = info.metrics
    if m.get("accuracy") is None:
        lines.append(f"not validated: {m.get('note', 'no held-out samples')}")
    else:
        lines.append(
            f"cross-validated ({m['folds']} folds, {m['held_out']} held-out samples): accuracy "
            f"{m['accuracy']:.2%} ± {m['accuracy_std']:.2%}; nearest sample (no classifier) "
            f"{m['nearest_sample_accuracy']:.2%}")
    for row in m.get("grid", []):
        grid = ", ".join(f"{k}={v}" for k, v in row["params"].items())
        score = "-" if row["accuracy"] is None else f"{row['accuracy']:.2%}"
        lines.append(f"  tuned {grid}: {score}")
    return lines


@models_app.command("list")
def models_list(data_dir: DataDir = None, json_out: JsonOut = False) -> None:
    """Every trained classifier, newest first; * marks the active one."""
    from facegate.api import views

    with opened(data_dir) as facegate:
        items = facegate.classifiers.list()
    if json_out:
        out.print_json(json.dumps({"items": [views.classifier(i) for i in items]}))
        return
    table = Table("", "id", "kind", "params", "accuracy", "identities", "samples", "created")
    for item in items:
        accuracy = item.metrics.get("accuracy")
        table.add_row("*" if item.active else "", item.id, item.kind,
                      ", ".join(f"{k}={v}" for k, v in item.params.items()),
                      "-" if accuracy is None else f"{accuracy:.2%}", str(item.identities),
                      str(item.samples), f"{item.created_at:%Y-%m-%d %H:%M}")
    (out if out.is_terminal else Console(width=250, highlight=False)).print(table)
    out.print(f"{len(items)} classifiers" + ("" if any(i.active for i in items) else
                                             "; none active: identify uses the nearest sample"))


@models_app.command("show")
def models_show(classifier_id: ClassifierId, data_dir: DataDir = None,
                json_out: JsonOut = False) -> None:
    """One classifier: parameters and validation metrics."""
    from facegate.api import views

    with opened(data_dir) as facegate:
        info = facegate.classifiers.get(classifier_id)
    if json_out:
        out.print_json(json.dumps(views.classifier(info)))
        return
    for line in describe(info):
        out.print(line)
    out.print("active" if info.active else "not active")


@models_app.command("activate")
def models_activate(classifier_id: ClassifierId, data_dir: DataDir = None) -> None:
    """Make identify rank identities with this classifier (every replica follows)."""
    with opened(data_dir) as facegate:
        facegate.classifiers.activate(classifier_id)
    out.print(f"active: {classifier_id}")


@models_app.command("deactivate")
def models_deactivate(data_dir: DataDir = None) -> None:
    """No classifier: identify ranks by the nearest sample again."""
    with opened(data_dir) as facegate:
        facegate.classifiers.activate(None)
    out.print("no classifier active: identify uses the nearest sample")


@models_app.command("delete")
def models_delete(classifier_id: ClassifierId, data_dir: DataDir = None) -> None:
    """Delete a classifier (deleting the active one deactivates it)."""
    with opened(data_dir) as facegate:
        facegate.classifiers.delete(classifier_id)
    out.print(f"deleted {classifier_id}")
