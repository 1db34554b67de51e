"""PNG plots of an evaluation (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from facegate.evaluation.metrics import Bools, Floats, Roc


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def pairs_plots(curve: Roc, distances: Floats, same: Bools, *, threshold: float,
                out_dir: Path, title: str) -> list[Path]:
    """ROC, DET and genuine/impostor histograms, each with ``threshold`` marked."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    marked = int(np.searchsorted(curve.thresholds, threshold, side="right") - 1)
    written = []

    fig, ax = plt.subplots(figsize=(6, 5))
    fmr = np.clip(curve.fmr, 1e-5, 1.0)
    ax.semilogx(fmr, curve.tar, lw=1.5)
    ax.plot(fmr[marked], curve.tar[marked], "o", color="red",
            label=f"threshold {threshold:.3f}")
    ax.set(xlabel="false match rate (FAR)", ylabel="true accept rate (TAR)", xlim=(1e-4, 1),
           ylim=(0.8, 1.001), title=f"ROC — {title}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    written.append(_save(fig, plt, out_dir / "roc.png"))

    fig, ax = plt.subplots(figsize=(6, 5))
    fnmr = np.clip(curve.fnmr, 1e-5, 1.0)
    ax.loglog(fmr, fnmr, lw=1.5)
    ax.plot(fmr[marked], fnmr[marked], "o", color="red", label=f"threshold {threshold:.3f}")
    ax.set(xlabel="false match rate (FMR)", ylabel="false non-match rate (FNMR)",
           xlim=(1e-4, 1), ylim=(1e-4, 1), title=f"DET — {title}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right")
    written.append(_save(fig, plt, out_dir / "det.png"))

    fig, ax = plt.subplots(figsize=(7, 4.5))
    finite = np.isfinite(distances)
    top = float(np.max(distances[finite])) if finite.any() else 1.0
    bins = np.linspace(0.0, max(top, threshold) * 1.02, 60)
    ax.hist(distances[same & finite], bins=bins, alpha=0.6, label="genuine (same person)")
    ax.hist(distances[~same & finite], bins=bins, alpha=0.6, label="impostor")
    ax.axvline(threshold, color="red", ls="--", label=f"threshold {threshold:.3f}")
    missing = int(np.sum(~finite))
    note = f" ({missing} pairs without a face not shown)" if missing else ""
    ax.set(xlabel="distance (lower is closer)", ylabel="pairs", title=f"Distances — {title}"
           + note)
    ax.legend()
    written.append(_save(fig, plt, out_dir / "histogram.png"))
    return written


def cmc_plot(ranks: NDArray[np.float64], *, out_dir: Path, title: str) -> Path:
    """Cumulative match characteristic: share of mated probes with their identity in the
    top-k, for k = 1 … len(ranks)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    k = np.arange(1, len(ranks) + 1)
    ax.plot(k, ranks, marker="o", ms=3)
    ax.set(xlabel="rank k", ylabel="identification rate (top-k)", title=f"CMC — {title}",
           ylim=(min(0.8, float(ranks[0]) - 0.02), 1.0), xscale="log")
    ax.grid(True, which="both", alpha=0.3)
    return _save(fig, plt, out_dir / "cmc.png")


def _save(fig: Any, plt: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
