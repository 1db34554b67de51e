"""Liveness results → JSON-ready dicts, one shape for the API and ``facegate liveness --json``.

Descriptors appear only where asked for (a session's best frame); never in logs.
"""

from __future__ import annotations

import math
from typing import Any

from facegate.pipeline.liveness.blinks import EyeEvent
from facegate.services.liveness import Reason, SequenceReport
from facegate.services.liveness_sessions import Session, SessionResult


def _num(value: float, digits: int = 4) -> float | None:
    return None if not math.isfinite(value) else round(float(value), digits)


def event(item: EyeEvent) -> dict[str, Any]:
    return {"kind": item.kind, "eye": item.eye, "start": item.start, "end": item.end,
            "closed_start": item.closed_start, "closed_end": item.closed_end,
            "depth": item.depth}


def reason(item: Reason) -> dict[str, Any]:
    return {"code": item.code, "message": item.message, "frames": item.frames}


def sequence(report: SequenceReport, *, reasons: list[Reason] | None = None) -> dict[str, Any]:
    """live, reasons, blink and wink events and the per-frame measures (for plotting)."""
    shown = report.reasons if reasons is None else reasons
    series = report.series
    frames = []
    for reading in report.frames:
        geometry = reading.geometry
        frames.append({
            "index": reading.index, "faces": reading.faces,
            "box": reading.box.as_dict() if reading.box else None,
            "right_eye": _num(geometry.right_eye) if geometry else None,
            "left_eye": _num(geometry.left_eye) if geometry else None,
            "right_relative": _num(series.right[reading.index], 3),
            "left_relative": _num(series.left[reading.index], 3),
            "yaw_deg": _num(geometry.yaw, 1) if geometry else None,
            "pitch_deg": _num(geometry.pitch, 1) if geometry else None,
            "mouth_open": _num(geometry.mouth_open, 3) if geometry else None,
        })
    return {
        "live": not shown,
        "reasons": [reason(r) for r in shown],
        "blinks": [event(e) for e in report.events if e.kind == "blink"],
        "winks": [event(e) for e in report.events if e.kind == "wink"],
        "frame_count": len(report.frames),
        "fps": report.fps,
        "baseline": {"right_eye": _num(series.baseline_right),
                     "left_eye": _num(series.baseline_left)},
        "sampling": None if report.sampling is None else {
            "step": report.sampling.step, "source_frames": report.sampling.source_frames,
            "source_fps": round(report.sampling.source_fps, 3),
            "scale": round(report.sampling.scale, 4)},
        "best_frame": report.best_frame,
        "frames": frames,
        "timings_ms": dict(report.timings.stages),
    }


def session(item: Session) -> dict[str, Any]:
    return {"id": item.id, "nonce": item.nonce, "actions": list(item.actions),
            "expires_at": item.expires_at,
            "expires_in_s": round(item.expires_at - item.created_at, 1)}


def session_result(result: SessionResult) -> dict[str, Any]:
    body = sequence(result.report, reasons=result.reasons)
    best = result.report.best_frame
    descriptor = result.report.best_descriptor
    body.update({
        "session_id": result.session.id,
        "actions": [{"action": a.action, "done": a.done, "frame": a.frame}
                    for a in result.actions],
        "best": None if best is None or descriptor is None else {
            "frame": best,
            "box": (lambda box: box.as_dict() if box else None)(result.report.frames[best].box),
            "descriptor": [float(v) for v in descriptor],
        },
    })
    return body
