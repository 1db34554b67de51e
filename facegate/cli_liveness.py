"""``facegate liveness FRAMES_DIR|VIDEO``: the blink check on a folder of frames or a video.

Registered on the main ``facegate`` command by ``cli.py``. Frames in a folder are read in name
order; frame indices in the output are 0-based positions in that order (for a video, as OpenCV
decodes it). Exit status: 0 live, 1 not live, 2 input or configuration error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from facegate.cli_common import err, out
from facegate.config import Settings
from facegate.errors import FacegateError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"}


def liveness(
    path: Annotated[Path, typer.Argument(help="a folder of frames (name order) or a video file",
                                         exists=True)],
    as_json: Annotated[bool, typer.Option("--json", help="print the whole result as JSON")] = False,
    fps: Annotated[float | None, typer.Option(help="frames per second of a folder [30]")] = None,
) -> None:
    """Is this sequence live? Looks for a full blink of one face, the same person throughout."""
    from facegate.bootstrap import liveness_service
    from facegate.services.liveness_report import sequence

    try:
        service = liveness_service(Settings())
        names: list[str] = []
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            names = [p.name for p in files]
            read = service.read([p.read_bytes() for p in files], None, fps)
        else:
            read = service.read([], path.read_bytes(), fps)
        frames = read.rgb
        report = service.blink(frames, fps=read.fps, sampling=read.sampling)
    except FacegateError as exc:
        err.print(f"[red]{exc.code}[/red]: {exc.message}")
        raise typer.Exit(2) from exc
    body = sequence(report)
    if names:
        body["files"] = names
    if as_json:
        out.print(json.dumps(body), markup=False)
    else:
        verdict = "LIVE" if report.live else "NOT LIVE"
        out.print(f"{path.name}: {verdict} ({len(frames)} frames)", markup=False)
        for item in body["blinks"] + body["winks"]:
            label = f"{item['kind']} ({item['eye']})"
            where = f"frames {item['start']}-{item['end']}"
            if names:
                where += f" ({names[item['start']]} - {names[item['end']]})"
            out.print(f"  {label}: {where}, closed {item['closed_start']}-"
                      f"{item['closed_end']}, depth {item['depth']}", markup=False)
        for item in body["reasons"]:
            out.print(f"  {item['code']}: {item['message']}", markup=False)
    raise typer.Exit(0 if report.live else 1)
