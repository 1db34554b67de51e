"""Eye-openness measures on mesh + iris points, per frame and per closure, on the annotated clips.

Issue 17 asks whether any eye measure on the face mesh + iris points tells the closures of
``blink/videos/tpsmm_driving.mp4`` (which ``../shared/faces/README.md`` calls "a partial blink
near 19-23, eyes never fully close") from the annotated full blinks (d18 94-97, d0 65-66),
while d19's winks, d0's half-closed eyes (69-77) and every open frame stay no blink. Each clip
is read as the server reads it (``LivenessService.analyze``: its face boxes, every second frame
tracked); in each frame's box the face mesh and the iris model are run again here, so the raw
iris-model eye contour (71 points) and iris (5 points) are at hand, and per eye:

- ``lid_iris``: the server's measure, mean of three upper-to-lower lid distances of the iris
  model's contour over the iris diameter of the same frame (``mesh_eyes.lid_gap_over_iris``);
- ``lid_px``: the same lid gap in pixels;
- ``lid_iris_median``: the lid gap over the median iris diameter of the frames within 2 s (the
  iris is hidden at a closure and its per-frame diameter shrinks there, by up to 18% on d18);
- ``iris_ear``: the lid gap over the eye's width (the contour's corners);
- ``lid_area``: the area inside the contour's 16 lid points over the iris diameter squared;
- ``mesh_only``: the face mesh's own lid points (before the iris model) over the iris diameter.

Every measure is also taken relative to each eye's local open level (``blinks.open_level``,
the server's rule). A closure's depth is the lowest over its frames of the *more open* eye (a
blink closes both) and of the two eyes' mean. Closures are also read at 15 fps (every second
frame from frame 0, as the [smile, blink] session test sends d18).

    python -m bench.blink_measures                      # the per-closure table (results/)
    python -m bench.blink_measures --frames videos/tpsmm_driving.mp4 --first 85 --last 100
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench.common import FACES, machine, require, table, write_results
from facegate.bootstrap import liveness_service
from facegate.config import Settings
from facegate.pipeline.liveness.blinks import LID_IRIS_RULES, open_level
from facegate.pipeline.video import decode_video
from facegate.runtime.face_mesh import FaceMesh
from facegate.runtime.mesh_eyes import _CORNERS, LID_PAIRS, IrisRefiner, eye_roi

BLINK = FACES / "blink"
#: label → (clip, first frame, last frame, kind): the frames around each closure looked at.
CLOSURES = {
    "d18 94-97": ("videos/liveportrait_d18.mp4", 93, 99, "blink"),
    "d18 94-97 @15fps": ("videos/liveportrait_d18.mp4", 93, 99, "blink"),
    "d18 frames 94-97": ("frames/liveportrait_d18_blink", 93, 99, "blink"),
    "d18 186-187": ("videos/liveportrait_d18.mp4", 185, 188, "blink"),
    "d0 65-66": ("videos/liveportrait_d0.mp4", 63, 68, "blink"),
    "tpsmm 19-23": ("videos/tpsmm_driving.mp4", 18, 24, "tpsmm"),
    "tpsmm 57-62": ("videos/tpsmm_driving.mp4", 56, 63, "tpsmm"),
    "tpsmm 88-96": ("videos/tpsmm_driving.mp4", 87, 97, "tpsmm"),
    "tpsmm 148-156": ("videos/tpsmm_driving.mp4", 147, 157, "tpsmm"),
    "d0 69-77 (half closed)": ("videos/liveportrait_d0.mp4", 69, 77, "other"),
    "d19 video (winks, smile)": ("videos/liveportrait_d19.mp4", 0, 10_000, "other"),
    "d19 wink frames": ("frames/liveportrait_d19_winks", 0, 10_000, "other"),
}
MEASURES = ("lid_iris", "lid_px", "lid_iris_median", "iris_ear", "lid_area", "mesh_only")
#: Iris-model contour indices: lower lid 0-8 (corner to corner), upper lid 9-15; the three
#: pairs of ``mesh_eyes.LID_PAIRS`` are contour (11, 3), (12, 4), (13, 5).
_UPPER, _LOWER = (11, 12, 13), (3, 4, 5)
_LID_RING = (0, 1, 2, 3, 4, 5, 6, 7, 8, 15, 14, 13, 12, 11, 10, 9)


@dataclass(frozen=True, slots=True)
class Clip:
    fps: float
    numbers: list[int]  # the clip's own frame numbers
    values: dict[str, NDArray[np.float64]]  # measure → (2, frames): right eye, left eye


def _eye(contour: NDArray[Any], iris: NDArray[Any], mesh_xy: NDArray[Any],
         pairs: tuple[tuple[int, int], ...]) -> dict[str, float]:
    c, ring = contour.astype(np.float64), iris.astype(np.float64)
    gap = float(np.mean([np.linalg.norm(c[u] - c[lo]) for u, lo in zip(_UPPER, _LOWER,
                                                                          strict=True)]))
    diameter = float(np.linalg.norm(ring[1] - ring[3]) + np.linalg.norm(ring[2] - ring[4])) / 2
    x, y = c[list(_LID_RING), 0], c[list(_LID_RING), 1]
    area = 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
    mesh_gap = float(np.mean([np.linalg.norm(mesh_xy[u] - mesh_xy[lo]) for u, lo in pairs]))
    return {"lid_px": gap, "diameter": diameter, "lid_iris": gap / diameter,
            "iris_ear": gap / float(np.linalg.norm(c[0] - c[8])),
            "lid_area": area / diameter ** 2, "mesh_only": mesh_gap / diameter}


def _frames(name: str) -> tuple[list[Any], float, list[int]]:
    path = require(BLINK / name)
    if path.is_dir():
        files = sorted(path.glob("frame_*.jpg"))
        return ([_service().decode_frames([f.read_bytes()])[0] for f in files], 30.0,
                [int(f.stem.split("_")[1]) for f in files])
    frames, fps = decode_video(path.read_bytes(), max_frames=1000, max_pixels=10_000_000)
    return frames, fps, list(range(len(frames)))


@cache
def _service() -> Any:
    return liveness_service(Settings())


@cache
def _models() -> tuple[FaceMesh, IrisRefiner]:
    runtime = Settings().runtime
    return (FaceMesh(cache_dir=runtime.model_cache, providers=runtime.providers),
            IrisRefiner(cache_dir=runtime.model_cache, providers=runtime.providers))


@cache
def read_clip(name: str) -> Clip:
    frames, fps, numbers = _frames(name)
    report = _service().analyze(frames, fps=fps)
    mesh_model, iris_model = _models()
    rows: list[list[dict[str, float]] | None] = []
    for reading, rgb in zip(report.frames, frames, strict=True):
        if reading.box is None:
            rows.append(None)
            continue
        mesh = mesh_model.mesh(rgb, reading.box)
        eyes = []
        for corners, pairs, mirrored in ((_CORNERS[0], LID_PAIRS[0], False),
                                         (_CORNERS[1], LID_PAIRS[1], True)):
            contour, iris = iris_model.eye(rgb, eye_roi(mesh.points, corners), mirrored=mirrored)
            eyes.append(_eye(contour, iris, mesh.points[:, :2].astype(np.float64), pairs))
        rows.append(eyes)
    keys = [k for k in (*MEASURES, "diameter") if k != "lid_iris_median"]
    values = {k: np.array([[r[e][k] if r else np.nan for r in rows] for e in (0, 1)])
              for k in keys}
    window = round(2 * fps)
    median = np.array([[np.nanmedian(values["diameter"][e, max(0, i - window):i + window + 1])
                        for i in range(len(rows))] for e in (0, 1)])
    values["lid_iris_median"] = values["lid_px"] / median
    return Clip(fps, numbers, values)


def relative(values: NDArray[np.float64], fps: float) -> NDArray[np.float64]:
    """Each eye over its local open level (the server's ``open_level``)."""
    return np.array([v / open_level(v, fps=fps, rules=LID_IRIS_RULES) for v in values])


def _sampled(clip: Clip, step: int) -> Clip:
    return Clip(clip.fps / step, clip.numbers[::step],
                {k: v[:, ::step] for k, v in clip.values.items()})


def depths(label: str, measure: str) -> dict[str, float]:
    """A closure's depth: lowest over its frames of the more open eye and of the eyes' mean,
    absolute and relative to the local open level."""
    name, first, last, _ = CLOSURES[label]
    clip = read_clip(name)
    if label.endswith("@15fps"):
        clip = _sampled(clip, 2)
    index = [i for i, n in enumerate(clip.numbers) if first <= n <= last]
    absolute = clip.values[measure]
    rel = relative(absolute, clip.fps)
    return {"abs_max": float(np.nanmin(np.nanmax(absolute[:, index], axis=0))),
            "abs_mean": float(np.nanmin(np.nanmean(absolute[:, index], axis=0))),
            "rel_max": float(np.nanmin(np.nanmax(rel[:, index], axis=0))),
            "rel_mean": float(np.nanmin(np.nanmean(rel[:, index], axis=0)))}


def separation(figures: dict[str, dict[str, float]], key: str) -> str:
    """The shallowest full blink, the deepest tpsmm closure and the deepest of the rest (no
    blink): one cut keeps tpsmm not live and every other verdict only when the blinks stay
    below both (the gaps in brackets positive)."""
    def extreme(kind: str, pick: Callable[[list[float]], float]) -> float:
        return pick([figures[label][key] for label, c in CLOSURES.items() if c[3] == kind])

    blink, tpsmm, other = extreme("blink", max), extreme("tpsmm", min), extreme("other", min)
    return f"{blink:.3f} / {tpsmm:.3f} ({tpsmm - blink:+.3f}) / {other:.3f} ({other - blink:+.3f})"


def closure_tables() -> tuple[list[str], dict[str, Any]]:
    tables, data = [], {}
    for measure in MEASURES:
        figures = {label: depths(label, measure) for label in CLOSURES}
        data[measure] = figures
        rows = [[label, CLOSURES[label][3]] + [f"{figures[label][k]:.3f}" for k in
                                               ("abs_max", "abs_mean", "rel_max", "rel_mean")]
                for label in CLOSURES]
        rows.append(["shallowest blink / deepest tpsmm / deepest other", ""] +
                    [separation(figures, k) for k in ("abs_max", "abs_mean", "rel_max",
                                                      "rel_mean")])
        tables.append(f"### {measure}\n\n" + table(
            ["closure", "kind", "abs, more open eye", "abs, eyes' mean",
             "relative, more open eye", "relative, eyes' mean"], rows))
    return tables, data


def frame_table(name: str, first: int, last: int) -> str:
    clip = read_clip(name)
    rel = relative(clip.values["lid_iris"], clip.fps)
    rows = []
    for i, number in enumerate(clip.numbers):
        if first <= number <= last:
            v = {k: clip.values[k][:, i] for k in clip.values}
            rows.append([number] + [f"{v[k][0]:.3f} {v[k][1]:.3f}" for k in
                                    ("lid_iris", "lid_px", "diameter", "lid_iris_median",
                                     "iris_ear", "lid_area")]
                        + [f"{rel[0, i]:.2f} {rel[1, i]:.2f}"])
    return table(["frame", "lid_iris R L", "lid px", "iris px", "lid/median iris",
                  "iris EAR", "lid area", "lid_iris relative"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", help="print one clip's per-frame table instead, e.g. "
                        "videos/tpsmm_driving.mp4")
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--last", type=int, default=10_000)
    args = parser.parse_args()
    if args.frames:
        print(frame_table(args.frames, args.first, args.last))
        return
    facts = machine()
    tables, data = closure_tables()
    print("\n\n".join(tables))
    write_results("blink_measures", title="Eye measures at each closure (mesh + iris points)",
                  facts=facts, tables=tables, data={"closures": CLOSURES, "measures": data})


if __name__ == "__main__":
    main()
