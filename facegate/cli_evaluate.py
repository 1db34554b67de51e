"""``facegate evaluate pairs|identification`` and ``facegate calibrate``: accuracy measured on
labelled photos with facegate's own pipeline and settings.

Registered on the main ``facegate`` command by ``cli.py``. Never prints descriptors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from facegate.cli_common import JsonOut, err, out
from facegate.config import Settings
from facegate.errors import FacegateError
from facegate.evaluation import COMPARE_HELP, Compare

evaluate_app = typer.Typer(help="Measure accuracy on labelled photos.", no_args_is_help=True)

DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", help="data folder (descriptor cache, calibration) [./data or FACEGATE_DATA_DIR]")]
Plots = Annotated[Path | None, typer.Option("--plots", help="write PNG plots to this folder")]
Workers = Annotated[int, typer.Option(help="worker processes computing descriptors")]
CompareOpt = Annotated[Compare, typer.Option(help=COMPARE_HELP)]
CacheDir = Annotated[Path | None, typer.Option(
    "--cache", help="descriptor cache folder [<data-dir>/cache]")]


def _settings(data_dir: Path | None) -> Settings:
    try:
        return Settings(data_dir=data_dir) if data_dir else Settings()
    except ValueError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


@contextmanager
def _run(settings: Settings, *, workers: int, cache: Path | None, quiet: bool) -> Iterator[Any]:
    from facegate.evaluation.runs import Run

    progress = Progress(TextColumn("describing"), BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), console=err, transient=True, disable=quiet)
    task = progress.add_task("describing", total=None)

    def advance(count: int, total: int) -> None:
        progress.update(task, total=total, advance=count)

    with progress:
        try:
            yield Run(settings=settings, cache_dir=cache, workers=workers, progress=advance)
        except FacegateError as exc:
            err.print(f"[red]{exc.code}[/red]: {exc.message}")
            raise typer.Exit(2) from exc


def _views(settings: Settings, compare: Compare) -> str:
    """Which views each side of a pair got, in words."""
    views = settings.augmentation
    enrolment = "enrolment views" if compare == "enrolled" \
        or views.photo_pair_views == "enrol" else "probe views"
    second = "probe views" if compare == "enrolled" else enrolment
    return f"first photo {enrolment}, second photo {second}"


def _pct(value: float) -> str:
    return f"{100.0 * value:.2f}%"


@evaluate_app.command("pairs")
def evaluate_pairs(
    pairs_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                               help="CSV: path1,path2,same[,fold]")],
    root: Annotated[Path, typer.Option(exists=True, file_okay=False,
                                       help="folder the paths are relative to")],
    folds: Annotated[int | None, typer.Option(help="k folds [the file's fold column, else 10]")]
        = None,
    seed: Annotated[int, typer.Option(help="seed of the fold split without a fold column")] = 0,
    compare: CompareOpt = "photos",
    json_out: JsonOut = False, plots: Plots = None, data_dir: DataDir = None,
    workers: Workers = 2, cache: CacheDir = None,
) -> None:
    """Verification accuracy (k-fold, threshold chosen on the other folds), EER, TAR at FAR,
    AUC, and how many photos had no face (scored as non-matches)."""
    from facegate.evaluation.runs import evaluate_pairs as run_pairs

    settings = _settings(data_dir)
    with _run(settings, workers=workers, cache=cache, quiet=json_out) as run:
        report, written = run_pairs(pairs_file, root=root, run=run, folds=folds, seed=seed,
                                    plots_dir=plots, compare=compare)
    views = _views(settings, compare)
    if json_out:
        out.print_json(json.dumps({**report.as_dict(), "compare": compare, "views": views,
                                   "plots": [str(p) for p in written]}))
        return
    out.print(f"{report.pairs} pairs ({report.genuine} genuine, {report.impostor} impostor) "
              f"over {report.images} images, {len(report.folds)} folds; compared as {compare}: "
              f"{views}")
    out.print(f"accuracy      {_pct(report.mean_accuracy)} ± {_pct(report.std_accuracy)} "
              "(threshold chosen on the other folds)")
    for fold in report.folds:
        out.print(f"  fold {fold.fold}: {_pct(fold.accuracy)} at {fold.threshold:.4f}")
    out.print(f"EER           {_pct(report.eer)} at {report.eer_threshold:.4f}")
    for far, (tar, threshold) in report.tar_at_far.items():
        out.print(f"TAR @ FAR {far:g}  {_pct(tar)} at {threshold:.4f}")
    out.print(f"AUC           {report.auc:.5f}")
    out.print(f"no face found in {len(report.no_face)} images ({report.pairs_without_face} "
              "pairs): scored as distance inf, never a match")
    for name in report.no_face[:20]:
        out.print(f"  {name}")
    for path in written:
        out.print(f"wrote {path}")


@evaluate_app.command("identification")
def evaluate_identification(
    root: Annotated[Path, typer.Argument(exists=True, file_okay=False,
                                         help="one sub-folder of photos per person")],
    rule: Annotated[str, typer.Option(help="open-set rule: cohort or distance "
                                      "[matching.rule]")] = "",
    enrol_images: Annotated[int, typer.Option(help="photos enrolled per person")] = 1,
    seed: Annotated[int | None, typer.Option(help="shuffle each person's photos first")] = None,
    json_out: JsonOut = False, plots: Plots = None, data_dir: DataDir = None,
    workers: Workers = 2, cache: CacheDir = None,
) -> None:
    """Open-set identification: people with more photos than --enrol-images are enrolled with
    their first ones, their other photos are mated probes, everyone else's are strangers."""
    from facegate.evaluation.runs import RULES
    from facegate.evaluation.runs import evaluate_identification as run_identification

    settings = _settings(data_dir)
    rule = rule or settings.matching.rule
    if rule not in RULES:
        err.print(f"[red]error:[/red] --rule must be one of {', '.join(RULES)}")
        raise typer.Exit(2)
    with _run(settings, workers=workers, cache=cache, quiet=json_out) as run:
        report, written = run_identification(root, run=run, rule=rule, plots_dir=plots,
                                             enrol_images=enrol_images, seed=seed)
    if json_out:
        out.print_json(json.dumps({**report.as_dict(), "plots": [str(p) for p in written]}))
        return
    out.print(f"{report.enrolled} people enrolled, {report.mated} mated probes, "
              f"{report.non_mated} non-mated probes (strangers); rule {report.rule}")
    out.print(f"rank-1        {_pct(report.rank1)}")
    for fpir, (fnir, threshold) in report.fnir_at_fpir.items():
        out.print(f"FNIR @ FPIR {fpir:g}  {_pct(fnir)} (threshold {threshold:.4f})")
    threshold, fpir, fnir = report.at_threshold
    out.print(f"at the server's threshold {threshold}: FPIR {_pct(fpir)}, FNIR {_pct(fnir)}")
    out.print(f"no face found in {len(report.no_face)} images (a mated probe without a face is "
              "a miss, a stranger's a correct rejection)")
    for path in written:
        out.print(f"wrote {path}")


def calibrate(
    source: Annotated[Path, typer.Argument(exists=True, help="a pairs CSV (path1,path2,same) "
                                           "or a folder with one sub-folder per person")],
    target_fmr: Annotated[float, typer.Option(help="false-match rate to stay within")] = 1e-3,
    root: Annotated[Path | None, typer.Option(help="folder a pairs file's paths are relative "
                                              "to [the file's folder]")] = None,
    apply: Annotated[bool, typer.Option("--apply", help="store the threshold as the server's "
                                        "(<data-dir>/calibration.json)")] = False,
    compare: CompareOpt = "enrolled",
    json_out: JsonOut = False, data_dir: DataDir = None, workers: Workers = 2,
    cache: CacheDir = None,
) -> None:
    """Recommend the distance threshold for a target false-match rate, measured on your own
    labelled photos (FNMR and 95% confidence intervals included); --apply stores it."""
    from facegate.evaluation import calibration

    settings = _settings(data_dir)
    with _run(settings, workers=workers, cache=cache, quiet=json_out) as run:
        distances, same = calibration.labelled_distances(source, run=run, root=root,
                                                         compare=compare)
        result = calibration.calibrate(distances, same, target_fmr=target_fmr,
                                       source=str(source))
    stored = calibration.apply(result, settings.data_dir) if apply else None
    if json_out:
        out.print_json(json.dumps({**result.as_dict(), "previous_threshold":
                                   settings.matching.threshold,
                                   "previous_source": settings.threshold_source,
                                   "applied": str(stored) if stored else None}))
        return
    low, high = result.fmr_interval
    out.print(f"{result.genuine_pairs} genuine and {result.impostor_pairs} impostor pairs "
              f"({result.pairs_without_face} pairs left out: no face found)")
    out.print(f"threshold {result.threshold:.4f} for FMR ≤ {target_fmr:g}")
    out.print(f"  FMR  {result.fmr:.2e} (95% CI {low:.2e} – {high:.2e})")
    low, high = result.fnmr_interval
    out.print(f"  FNMR {_pct(result.fnmr)} (95% CI {_pct(low)} – {_pct(high)})")
    if result.warning:
        err.print(f"[yellow]warning:[/yellow] {result.warning}")
    out.print(f"current threshold {settings.matching.threshold} ({settings.threshold_source})")
    if stored:
        out.print(f"applied: {stored} (servers started with this data folder use it)")


@evaluate_app.command("feedback")
def evaluate_feedback(
    root: Annotated[Path, typer.Argument(exists=True, file_okay=False,
                                         help="one sub-folder of photos per person")],
    json_out: JsonOut = False, data_dir: DataDir = None, workers: Workers = 2,
    cache: CacheDir = None,
) -> None:
    """Does 'wrong' feedback stop a stranger being named again? People with two or more
    photos alternate: enrolled with their first photo, or strangers whose first photo gets
    'wrong' feedback when it is named; then everyone's other photos are identified before and
    after, at the server's threshold and rules (docs/accuracy.md)."""
    from facegate.evaluation.feedback import run_feedback

    settings = _settings(data_dir)
    with _run(settings, workers=workers, cache=cache, quiet=json_out) as run:
        report: dict[str, Any] = run_feedback(root, run)
    if json_out:
        out.print_json(json.dumps(report))
        return
    out.print(f"{report['enrolled']} people enrolled, {report['strangers']} strangers; "
              f"{report['feedback_given']} stranger first photos named and given 'wrong'; "
              f"{report['mated_probes']} mated and {report['stranger_probes']} stranger probes; "
              f"threshold {report['threshold']} ({report['decision_rule']} rule)")
    rows = {"before": report["before"],
            f"after ({report['rule']['mode']}, margin {report['rule']['margin']:+.2f})":
                report["after"], **report["alternatives"]}
    out.print(f"{'':<28} {'FPIR':>8} {'FNIR':>8}  repeat false matches")
    for label, rates in rows.items():
        repeat = rates["repeat_false_matches"]
        out.print(f"{label:<28} {_pct(rates['fpir']):>8} {_pct(rates['fnir']):>8}  "
                  f"{repeat['count']} of {report['repeat_probes']} ({_pct(repeat['rate'])}), "
                  f"{repeat['same_identity']} as the same person")
