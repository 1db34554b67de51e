"""A 720x1280, 12 s, 30 fps selfie video through the blink check: time per request and stages.

The video is ``bench.liveness.selfie_video`` (d18's real frames, upscaled to 720x720 with
stretched edges, forwards then backwards; MPEG-4 in MP4), the same as the API test's. One
request is the server's whole work for ``POST /v1/liveness/blink`` with default settings:
``LivenessService.read_video`` (decode, downscale to 640, every 2nd frame kept: 180 frames)
and ``blink`` (detection, 68 landmarks, descriptors, the checks), on one thread as a model
thread runs it. Baseline, in the same process on the same video: ``liveness.detector = hog``
(HOG searches every 2nd frame, the path before BlazeFace short-range told it when the face
moved) and frames turned RGB by a reversed-channel copy (the decoder before). Each request
records wall time and this process's CPU time (all threads: less sensitive to a busy machine
than wall time), and the stages the service times (``decode`` = ``read_video``).

    python -m bench.liveness_video [--runs 3]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import machine, ratio, summary, table, write_results
from bench.liveness import selfie_video

STAGES = ("decode", "detect", "landmarks", "embed", "checks")


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def _old_decoder() -> Iterator[None]:
    """``pipeline.video`` turning frames RGB as before (a reversed-channel copy)."""
    import cv2

    from facegate.pipeline import video

    def kept(bgr: Any, scale: float) -> Any:
        if scale < 1.0:
            height, width = bgr.shape[:2]
            bgr = cv2.resize(bgr, (max(1, round(width * scale)), max(1, round(height * scale))),
                             interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(bgr[:, :, ::-1], dtype=np.uint8)

    current: Callable[..., Any] = video._kept
    video._kept = kept  # type: ignore[assignment]
    try:
        yield
    finally:
        video._kept = current  # type: ignore[assignment]


def one_request(service: Any, data: bytes) -> dict[str, Any]:
    started, cpu = time.perf_counter(), _cpu_s()
    read = service.read_video(data)
    decode_ms = (time.perf_counter() - started) * 1000.0
    report = service.blink(read.rgb, fps=read.fps, sampling=read.sampling)
    wall_ms = (time.perf_counter() - started) * 1000.0
    stages = {"decode": decode_ms, **report.timings.stages}
    stages["checks"] = wall_ms - sum(stages.values())
    return {"wall_ms": wall_ms, "cpu_ms": (_cpu_s() - cpu) * 1000.0, "stages": stages,
            "live": report.live, "frames": len(read.rgb),
            "hog_frames": sum(r.searched for r in report.frames),
            "blinks": [[b.closed_start, b.closed_end] for b in report.blinks]}


def runs(service: Any, data: bytes, count: int, *, old_decoder: bool) -> list[dict[str, Any]]:
    service.blink(service.read_video(data).rgb[:10])  # loads every model
    done = []
    for _ in range(count):
        if old_decoder:
            with _old_decoder():
                done.append(one_request(service, data))
        else:
            done.append(one_request(service, data))
    return done


def _row(name: str, done: list[dict[str, Any]]) -> list[Any]:
    wall, cpu = summary([d["wall_ms"] for d in done]), summary([d["cpu_ms"] for d in done])
    stages = [summary([d["stages"].get(s, 0.0) for d in done])["p50"] for s in STAGES]
    return [name, wall["p50"], cpu["p50"], *stages, done[0]["hog_frames"],
            all(d["live"] for d in done), wall["n"]]


def main() -> None:
    from facegate.bootstrap import liveness_service
    from facegate.config import Settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="requests per configuration")
    args = parser.parse_args()
    facts = machine()
    with tempfile.TemporaryDirectory() as folder:
        data = selfie_video(Path(folder) / "selfie.mp4")
    memory = {"url": "memory://"}
    base = runs(liveness_service(Settings(storage=memory, liveness={"detector": "hog"})), data,
                args.runs, old_decoder=True)
    ours = runs(liveness_service(Settings(storage=memory)), data, args.runs, old_decoder=False)
    headers = ["720x1280 12 s 30 fps selfie, one request", "wall p50 ms", "CPU p50 ms",
               *[f"{s} ms" for s in STAGES], "HOG frames", "live", "n"]
    main_table = table(headers, [_row("baseline: HOG every 2nd frame, old RGB copy", base),
                                 _row("facegate: BlazeFace short-range holds HOG's box", ours)])
    speed = {"wall": ratio(summary([d["wall_ms"] for d in base])["p50"],
                           summary([d["wall_ms"] for d in ours])["p50"]),
             "cpu": ratio(summary([d["cpu_ms"] for d in base])["p50"],
                          summary([d["cpu_ms"] for d in ours])["p50"])}
    notes = (f"{len(data)} bytes, {ours[0]['frames']} frames kept (every 2nd, downscaled to "
             f"360x640). Stages are wall ms (p50) in the request's thread; CPU is this "
             f"process's user + system time over the request (all threads: the decoder's too). "
             f"Speed-up over the baseline (p50): wall {speed['wall']}, CPU {speed['cpu']}. "
             f"Blinks (kept frames, closed start-end): baseline {base[0]['blinks']}, "
             f"facegate {ours[0]['blinks']}. Wall figures depend on the machine's load (see "
             "the load averages above): the goal (issue 17) is under 3 s wall on this machine.")
    print(main_table, notes, sep="\n\n")
    path = write_results("liveness_video", title="bench/liveness_video: the 12 s selfie video",
                         facts=facts, tables=[main_table, notes],
                         data={"config": vars(args), "baseline": base, "facegate": ours,
                               "speedup_p50": speed})
    print(f"\nwrote {path} and {path.with_suffix('.md')}")


if __name__ == "__main__":
    main()
