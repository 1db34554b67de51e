"""Milliseconds per frame and per 15-frame sequence of facegate's blink liveness check.

Inputs: 15-frame windows (JPEG bytes, as a client sends them) cut from the real clips in
``../shared/faces/blink/videos``. A sequence's time covers decoding the JPEGs, HOG detection,
68-point landmarks and eye measures on every frame, descriptors on every 5th frame (and the
last), and the blink and same-person checks: ``LivenessService.decode_frames`` + ``blink``, in
this process on one thread (as the server runs it on one model thread). The baseline is the
usual tutorial approach with face_recognition (``face_locations`` + ``face_landmarks`` per
frame, HOG, no descriptors), timed per frame on the same frames when it is installed
(``bash bench/run liveness`` installs it into .venv-bench).

A second table times a 720x1280, 12 s, 30 fps selfie video (MPEG-4 in MP4, made here from
d18's real frames upscaled to 720x720 with stretched edges, forwards then backwards): the
server's whole work for ``POST /v1/liveness/blink`` with default settings (decode, downscale to
640, sample every 2nd frame: 180 frames at 15 fps; the blink check), issue 17's "under 3 s".

    python -m bench.liveness [--windows 4] [--runs 3] [--frames 15]
"""

from __future__ import annotations

import argparse
import io
from typing import Any

import numpy as np
from PIL import Image

from bench.common import FACES, machine, ratio, require, summary, table, write_results

CLIPS = ("liveportrait_d18.mp4", "liveportrait_d19.mp4", "tpsmm_driving.mp4")


def windows(count: int, length: int) -> list[tuple[str, int, list[bytes]]]:
    """``count`` evenly spaced windows of ``length`` frames per clip, as JPEG bytes."""
    from facegate.pipeline.video import decode_video

    cut = []
    for clip in CLIPS:
        frames, _ = decode_video(require(FACES / "blink" / "videos" / clip).read_bytes(),
                                 max_frames=1000, max_pixels=10_000_000)
        for start in np.linspace(0, len(frames) - length, count).astype(int):
            cut.append((clip, int(start), [_jpeg(f) for f in frames[start:start + length]]))
    return cut


def _jpeg(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def facegate_runs(cut: list[tuple[str, int, list[bytes]]], runs: int) -> dict[str, Any]:
    import time

    from facegate.bootstrap import liveness_service
    from facegate.config import Settings

    settings = Settings(storage={"url": "memory://"})
    service = liveness_service(settings)
    dumped = settings.model_dump(mode="json")
    config = {k: dumped[k] for k in ("alignment", "augmentation", "runtime") if k in dumped}
    started = time.perf_counter()
    service.blink(service.decode_frames(cut[0][2]))  # loads every model
    first_ms = (time.perf_counter() - started) * 1000.0
    sequence_ms: list[float] = []
    stages: dict[str, list[float]] = {}
    for _ in range(runs):
        for _, _, frames in cut:
            started = time.perf_counter()
            report = service.blink(service.decode_frames(frames))
            sequence_ms.append((time.perf_counter() - started) * 1000.0)
            for stage, ms in report.timings.stages.items():
                stages.setdefault(stage, []).append(ms / len(frames))
    return {"settings": config, "first_sequence_ms": round(first_ms, 1),
            "sequence": summary(sequence_ms),
            "frame": summary([ms / len(cut[0][2]) for ms in sequence_ms]),
            "stages_per_frame": {k: summary(v) for k, v in stages.items()}}


def selfie_video(path: Any) -> bytes:
    import cv2

    from facegate.pipeline.video import decode_video

    clip = require(FACES / "blink" / "videos" / "liveportrait_d18.mp4").read_bytes()
    frames, _ = decode_video(clip, max_frames=1000, max_pixels=10_000_000)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (720, 1280))
    for index in [*range(216), *range(214, 70, -1)]:
        big = cv2.resize(frames[index][:, :, ::-1], (720, 720), interpolation=cv2.INTER_CUBIC)
        writer.write(cv2.copyMakeBorder(big, 280, 280, 0, 0, cv2.BORDER_REPLICATE))
    writer.release()
    return bytes(path.read_bytes())


def video_runs(runs: int) -> dict[str, Any]:
    import tempfile
    import time
    from pathlib import Path

    from facegate.bootstrap import liveness_service
    from facegate.config import Settings

    service = liveness_service(Settings(storage={"url": "memory://"}))
    with tempfile.TemporaryDirectory() as folder:
        video = selfie_video(Path(folder) / "selfie.mp4")
    service.blink(service.read_video(video).rgb[:10])  # loads every model
    times, live = [], []
    for _ in range(runs):
        started = time.perf_counter()
        read = service.read_video(video)
        report = service.blink(read.rgb, fps=read.fps, sampling=read.sampling)
        times.append((time.perf_counter() - started) * 1000.0)
        live.append(report.live)
    return {"ms": summary(times), "live": live, "frames": len(read.rgb), "bytes": len(video)}


def baseline_runs(cut: list[tuple[str, int, list[bytes]]], runs: int) -> dict[str, Any] | None:
    try:
        import face_recognition
    except ImportError:
        return None
    import time

    per_frame: list[float] = []
    for _ in range(runs):
        for _, _, frames in cut:
            for data in frames:
                started = time.perf_counter()
                image = face_recognition.load_image_file(io.BytesIO(data))
                boxes = face_recognition.face_locations(image)
                face_recognition.face_landmarks(image, boxes)
                per_frame.append((time.perf_counter() - started) * 1000.0)
    return {"frame": summary(per_frame)}


def _video_table(selfie: dict[str, Any]) -> str:
    return table(
        ["720x1280 12 s 30 fps selfie video (POST /v1/liveness/blink's work)", "p50 ms",
         "p95 ms", "mean ms", "n"],
        [[f"read ({selfie['frames']} frames kept) + blink check, live: {all(selfie['live'])}",
          selfie["ms"]["p50"], selfie["ms"]["p95"], selfie["ms"]["mean"], selfie["ms"]["n"]]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--windows", type=int, default=4, help="windows per clip")
    parser.add_argument("--frames", type=int, default=15, help="frames per window")
    parser.add_argument("--runs", type=int, default=3, help="passes over every window")
    args = parser.parse_args()
    facts = machine()
    cut = windows(args.windows, args.frames)
    ours = facegate_runs(cut, args.runs)
    base = baseline_runs(cut, args.runs)
    selfie = video_runs(args.runs)
    seq, frame = ours["sequence"], ours["frame"]
    main_table = table(
        ["", "p50 ms", "p95 ms", "mean ms", "n"],
        [[f"facegate, one {args.frames}-frame sequence", seq["p50"], seq["p95"], seq["mean"],
          seq["n"]],
         ["facegate, per frame (sequence / frames)", frame["p50"], frame["p95"],
          frame["mean"], frame["n"]]]
        + ([["baseline: face_recognition locations + 68 landmarks, per frame",
             base["frame"]["p50"], base["frame"]["p95"], base["frame"]["mean"],
             base["frame"]["n"]]] if base else []))
    stage_table = table(["stage (facegate)", "p50 ms per frame", "mean ms per frame"],
                        [[k, v["p50"], v["mean"]] for k, v in ours["stages_per_frame"].items()])
    notes = (f"{len(cut)} windows of {args.frames} frames ({args.windows} per clip: "
             f"{', '.join(CLIPS)}), {args.runs} runs; frames 480x480 (d18, d19) and 410x412 "
             f"(tpsmm) JPEGs. First sequence (loads the models): {ours['first_sequence_ms']} ms, "
             "excluded. Per-frame speed-up over the baseline (p50): "
             f"{ratio(base['frame']['p50'], frame['p50']) if base else '-'} "
             "(facegate's figure also includes decoding, descriptors and the checks). "
             f"Descriptor settings: {ours['settings']}.")
    video_table = _video_table(selfie)
    print(main_table, stage_table, video_table, notes, sep="\n\n")
    path = write_results("liveness", title="bench/liveness: ms per frame and per sequence",
                         facts=facts, tables=[main_table, stage_table, video_table, notes],
                         data={"config": vars(args), "facegate": ours, "baseline": base,
                               "selfie_video": selfie,
                               "windows": [[c, s] for c, s, _ in cut]})
    print(f"\nwrote {path} and {path.with_suffix('.md')}")


if __name__ == "__main__":
    main()
