"""The challenge actions of a liveness session, checked in order over a sequence.

- ``blink``: a full blink (``blinks.find_events``), after the previous action.
- ``turn_left`` / ``turn_right``: the head turned at least ``turn_deg`` to the person's own left
  (right) of its pose in the first frames, in unmirrored camera frames (a selfie preview is
  usually mirrored; the frames sent must not be).
- ``smile``: a smile or an open mouth: the inner lips at least ``mouth_open`` of the mouth's
  width apart, or the mouth ``smile_widen`` times as wide as in the first frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from facegate.pipeline.liveness.blinks import EyeEvent
from facegate.pipeline.liveness.geometry import FaceGeometry

Action = Literal["blink", "turn_left", "turn_right", "smile"]
ACTIONS: tuple[Action, ...] = ("blink", "turn_left", "turn_right", "smile")


@dataclass(frozen=True, slots=True)
class ActionRules:
    turn_deg: float = 12.0
    mouth_open: float = 0.3
    smile_widen: float = 1.15
    #: Frames at the start whose median pose and mouth are the neutral reference.
    neutral_frames: int = 3


@dataclass(frozen=True, slots=True)
class ActionResult:
    action: Action
    done: bool
    #: The frame where it was seen (for a blink: its last frame), when done.
    frame: int | None = None


def check_actions(
    actions: Sequence[Action], geometry: Sequence[FaceGeometry | None],
    events: Sequence[EyeEvent], rules: ActionRules = ActionRules(),
) -> list[ActionResult]:
    """Each action in order, each seen after the one before it; once one is missing, the rest
    are not looked for."""
    seen = [(i, g) for i, g in enumerate(geometry) if g is not None]
    if not seen:
        return [ActionResult(action, False) for action in actions]
    neutral = [g for _, g in seen[:rules.neutral_frames]]
    yaw0 = float(np.median([g.yaw for g in neutral]))
    width0 = float(np.median([g.mouth_width for g in neutral]))
    results: list[ActionResult] = []
    cursor = 0
    for action in actions:
        frame = _first(action, cursor, seen, events, yaw0=yaw0, width0=width0, rules=rules)
        if frame is None:
            results.extend(ActionResult(a, False) for a in actions[len(results):])
            break
        results.append(ActionResult(action, True, frame))
        cursor = frame + 1
    return results


def _first(action: Action, cursor: int, seen: list[tuple[int, FaceGeometry]],
           events: Sequence[EyeEvent], *, yaw0: float, width0: float,
           rules: ActionRules) -> int | None:
    if action == "blink":
        return next((e.end for e in events if e.kind == "blink" and e.start >= cursor), None)
    for index, g in seen:
        if index < cursor:
            continue
        if action == "turn_left" and g.yaw - yaw0 >= rules.turn_deg:
            return index
        if action == "turn_right" and yaw0 - g.yaw >= rules.turn_deg:
            return index
        if action == "smile" and (g.mouth_open >= rules.mouth_open
                                  or g.mouth_width >= width0 * rules.smile_widen):
            return index
    return None
