#!/usr/bin/env python3
"""Regenerate the tables of docs/accuracy.md from ``facegate evaluate`` runs on ../shared/faces.

Each row is one real ``facegate evaluate … --json`` command (environment overrides shown), run
as a subprocess; descriptors are cached in ``.cache/accuracy`` (git-ignored), so a rerun only
costs the configurations that changed. The per-face cost column is measured in this process: the
mean time of facegate's pipeline (detect, landmarks, align, all descriptors) over 100 LFW crops,
one at a time, after a warm-up.

Usage: scripts/accuracy_table.py [--shared ../shared/faces]
                                 [--only pairs|openset|sets|classifiers]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".cache" / "accuracy"
BEGIN, END = "<!-- table:{name} begin -->", "<!-- table:{name} end -->"

PLAIN = {"FACEGATE_ALIGNMENT__LANDMARKS": "5", "FACEGATE_AUGMENTATION__FLIP": "false",
         "FACEGATE_AUGMENTATION__JITTER": "0"}
PAIRS_ROWS: list[tuple[str, dict[str, str]]] = [
    ("5-point alignment, one descriptor (before)", PLAIN),
    ("5-point + flip", {**PLAIN, "FACEGATE_AUGMENTATION__FLIP": "true"}),
    ("68-point, one descriptor", {**PLAIN, "FACEGATE_ALIGNMENT__LANDMARKS": "68"}),
    ("68-point + flip", {"FACEGATE_ALIGNMENT__LANDMARKS": "68",
                         "FACEGATE_AUGMENTATION__JITTER": "0"}),
    ("both alignments + flip", {"FACEGATE_AUGMENTATION__JITTER": "0"}),
    ("5-point + flip + 4 jitters", {"FACEGATE_ALIGNMENT__LANDMARKS": "5"}),
    ("68-point + flip + 4 jitters", {"FACEGATE_ALIGNMENT__LANDMARKS": "68"}),
    ("**both alignments + flip + 4 jitters (default)**", {}),
]
OPENSET_ROWS: list[tuple[str, dict[str, str], str]] = [
    ("plain descriptors, nearest distance", PLAIN, "distance"),
    ("default descriptors, nearest distance", {}, "distance"),
    ("**default descriptors, cohort rule (default)**", {}, "cohort"),
    ("plain descriptors, cohort rule", PLAIN, "cohort"),
]
SHARED = "../shared/faces"
LFW_PAIRS = ("evaluate pairs", f"{SHARED}/lfw/pairs.csv --root {SHARED}/lfw")
LFW_IMAGES = f"{SHARED}/lfw/images"
SETS = [("orl", "ORL (40 x 10, 92x112 grey)"), ("yale", "Yale (15 people, lighting)"),
        ("johns", "johns (5 look-alike Johns)")]


def facegate(*args: object, env: dict[str, str]) -> dict[str, object]:
    command = [sys.executable, "-m", "facegate", *map(str, args), "--json",
               "--data-dir", str(DATA)]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FACEGATE_")}
    done = subprocess.run(command, env={**clean, **env}, capture_output=True, text=True,
                          check=True)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def shown(env: dict[str, str], *args: str) -> str:
    prefix = " ".join(f"{k}={v}" for k, v in env.items())
    return f"`{prefix + ' ' if prefix else ''}facegate {' '.join(args)}`"


def cost_ms(env: dict[str, str], images: list[Path]) -> float:
    """Mean ms per LFW crop of the whole face pipeline with these settings, in a subprocess."""
    code = (
        "import sys, time; from pathlib import Path\n"
        "from facegate.bootstrap import build; from facegate.config import Settings\n"
        "from facegate.pipeline.image import decode_image\n"
        "f = build(Settings(storage={'url': 'memory://'}))\n"
        "rgbs = [decode_image(Path(p).read_bytes(), max_bytes=10**7, max_pixels=10**8).rgb"
        " for p in sys.argv[1:]]\n"
        "f.pipeline.analyze(rgbs[0], every_face=False)\n"
        "t = time.perf_counter()\n"
        "for rgb in rgbs: f.pipeline.analyze(rgb, every_face=False)\n"
        "print((time.perf_counter() - t) * 1000 / len(rgbs))\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FACEGATE_")}
    done = subprocess.run([sys.executable, "-c", code, *map(str, images)],
                          env={**clean, **env}, capture_output=True, text=True, check=True)
    return float(done.stdout.strip())


def pct(value: object) -> str:
    return f"{100 * float(value):.2f}%"  # type: ignore[arg-type]


def pairs_table(shared: Path) -> str:
    lfw = shared / "lfw"
    sample = sorted((lfw / "images").rglob("*.jpg"))[::38][:100]
    lines = ["| configuration | accuracy (5 folds) | EER | TAR @ FAR 1e-3 | no face | ms / crop "
             "| command |", "|---|---|---|---|---|---|---|"]
    for label, env in PAIRS_ROWS:
        args = ("evaluate", "pairs", str(lfw / "pairs.csv"), "--root", str(lfw))
        body = facegate(*args, env=env)
        accuracy = body["accuracy"]
        assert isinstance(accuracy, dict)
        tar = body["tar_at_far"]["0.001"]["tar"]  # type: ignore[index]
        missing = body["no_face"]["count"]  # type: ignore[index]
        lines.append(
            f"| {label} | {pct(accuracy['mean'])} ± {pct(accuracy['std'])} "
            f"| {pct(body['eer']['rate'])} | {pct(tar)} | {missing} "  # type: ignore[index]
            f"| {cost_ms(env, sample):.0f} "
            f"| {shown(env, *LFW_PAIRS)} |")
        print(lines[-1], flush=True)
    return "\n".join(lines)


def openset_table(shared: Path) -> str:
    root = shared / "lfw" / "images"
    lines = ["| configuration | rank-1 | FNIR @ FPIR 1% | FNIR @ FPIR 0.1% | command |",
             "|---|---|---|---|---|"]
    for label, env, rule in OPENSET_ROWS:
        body = facegate("evaluate", "identification", root, "--rule", rule, env=env)
        fnir = body["fnir_at_fpir"]
        lines.append(
            f"| {label} | {pct(body['rank1'])} | {pct(fnir['0.01']['fnir'])} "  # type: ignore[index]
            f"| {pct(fnir['0.001']['fnir'])} "  # type: ignore[index]
            f"| {shown(env, 'evaluate identification', LFW_IMAGES, '--rule', rule)} |")
        print(lines[-1], flush=True)
    return "\n".join(lines)


def sets_table(shared: Path) -> str:
    lines = ["| set | pairs | accuracy (10 seeded folds) | EER | no face | command |",
             "|---|---|---|---|---|---|"]
    for name, label in SETS:
        folder = f"{SHARED}/{name}"
        args = ("evaluate", "pairs", str(shared / name / "pairs.csv"), "--root", str(shared / name))
        body = facegate(*args, env={})
        accuracy = body["accuracy"]
        assert isinstance(accuracy, dict)
        lines.append(
            f"| {label} | {body['pairs']} | {pct(accuracy['mean'])} ± {pct(accuracy['std'])} "
            f"| {pct(body['eer']['rate'])} | {body['no_face']['count']} "  # type: ignore[index]
            f"| {shown({}, 'evaluate pairs', f'{folder}/pairs.csv --root {folder}')} |")
        print(lines[-1], flush=True)
    return "\n".join(lines)


def classifiers_table(shared: Path) -> str:
    """``facegate train DIR --tune`` of each kind on each set: the tuned parameters and their
    cross-validated accuracy beside the nearest sample's on the same folds. Each set is
    enrolled once, by its first row; the second trains on that gallery (enrolling the folder
    again, as the shown command would, only finds every photo already enrolled)."""
    lines = ["| set | kind | tuned | accuracy (5 folds) | nearest sample | command |",
             "|---|---|---|---|---|---|"]
    for name, label in [("orl", "ORL"), ("yale", "Yale"), ("lfw/images", "LFW dev images")]:
        data = DATA / f"train-{name.replace('/', '-')}"
        for index, kind in enumerate(("knn", "svm")):
            folder = f"{SHARED}/{name}"
            paths = [str(shared / name)] if index == 0 else []
            command = [sys.executable, "-m", "facegate", "train", *paths, "--kind", kind,
                       "--tune", "--largest", "--json", "--data-dir", str(data)]
            clean = {k: v for k, v in os.environ.items() if not k.startswith("FACEGATE_")}
            done = subprocess.run(command, env=clean, capture_output=True, text=True,
                                  check=True)
            body = json.loads(done.stdout)
            metrics, params = body["metrics"], body["params"]
            lines.append(
                f"| {label} ({body['identities']} people, {body['samples']} photos) | {kind} "
                f"| {', '.join(f'{k}={v}' for k, v in params.items())} "
                f"| {pct(metrics['accuracy'])} ± {pct(metrics['accuracy_std'])} "
                f"| {pct(metrics['nearest_sample_accuracy'])} "
                f"| `facegate train {folder} --kind {kind} --tune --largest` |")
            print(lines[-1], flush=True)
    return "\n".join(lines)


def replace(doc: str, name: str, table: str) -> str:
    begin, end = BEGIN.format(name=name), END.format(name=name)
    head, _, rest = doc.partition(begin)
    _, _, tail = rest.partition(end)
    return f"{head}{begin}\n{table}\n{end}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "faces")
    parser.add_argument("--only", choices=("pairs", "openset", "sets", "classifiers"))
    options = parser.parse_args()
    doc_path = REPO / "docs" / "accuracy.md"
    doc = doc_path.read_text(encoding="utf-8")
    started = time.time()
    makers = {"pairs": pairs_table, "openset": openset_table, "sets": sets_table,
              "classifiers": classifiers_table}
    for name, make in makers.items():
        if options.only in (None, name):
            doc = replace(doc, name, make(options.shared))
            doc_path.write_text(doc, encoding="utf-8")
    print(f"docs/accuracy.md updated in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
